"""``mpt-edge magnify``: onset | apex | magnified apex | motion heat map, to see what the motion prompts see."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from mpt_edge.commands.common import user_errors
from mpt_edge.errors import MptEdgeError
from mpt_edge.motion.config import DEFAULT_ALPHA


@user_errors
def magnify(
    onset: Path = typer.Argument(..., help="Onset (neutral) frame: an aligned face image."),
    apex: Path = typer.Argument(..., help="Apex frame, same size as the onset."),
    alpha: float = typer.Option(DEFAULT_ALPHA, "--alpha", "-a", help="Magnification factor (>= 0)."),
    out: Path = typer.Option(Path("side_by_side.png"), "--out", "-o", help="Where to write the PNG/JPEG picture."),
    size: Optional[int] = typer.Option(None, "--size", help="Resize both frames to SIZE x SIZE first (e.g. 224, the model's face size)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary (token features included) instead of text."),
) -> None:
    """Write onset | apex | magnified apex | motion heat map, to see what the motion prompts see."""
    import cv2
    import numpy as np

    from mpt_edge.io import atomic_write_bytes, read_image
    from mpt_edge.motion import FEATURE_NAMES, LinearEulerianMagnifier, MotionConfig, gaussian_tokenize
    from mpt_edge.motion.images import check_alpha
    from mpt_edge.motion.visualize import side_by_side

    check_alpha(alpha)
    if size is not None and size < 32:
        raise MptEdgeError(f"--size {size} is too small; use at least 32 (the model uses 224)")
    suffix = out.suffix.lower()
    if suffix not in {".png", ".jpg", ".jpeg", ".bmp"}:
        raise MptEdgeError(f"--out {out}: unsupported picture type {suffix or '(none)'}; use .png or .jpg")
    onset_img, apex_img = read_image(onset), read_image(apex)
    if size is not None:
        onset_img = cv2.resize(onset_img, (size, size), interpolation=cv2.INTER_AREA)
        apex_img = cv2.resize(apex_img, (size, size), interpolation=cv2.INTER_AREA)
    elif onset_img.shape != apex_img.shape:
        raise MptEdgeError(
            f"{onset} is {onset_img.shape[1]}x{onset_img.shape[0]} but {apex} is {apex_img.shape[1]}x{apex_img.shape[0]}; "
            "pass --size 224 to resize both"
        )
    config = MotionConfig(alpha=alpha)
    magnified = LinearEulerianMagnifier(config)(onset_img, apex_img)
    features = gaussian_tokenize(onset_img, magnified, config)
    picture = side_by_side(onset_img, apex_img, magnified, features, config)
    ok, encoded = cv2.imencode(suffix, picture)
    if not ok:
        raise MptEdgeError(f"OpenCV could not encode {out}")
    atomic_write_bytes(out, encoded.tobytes())
    energy = features[:, FEATURE_NAMES.index("mean_abs_diff")]
    strongest = int(np.argmax(energy))
    summary = {
        "out": str(out),
        "alpha": alpha,
        "size": [int(onset_img.shape[1]), int(onset_img.shape[0])],
        "tokens": config.num_tokens,
        "features": list(FEATURE_NAMES),
        "strongest_token": {"index": strongest, "row": strongest // config.token_grid, "col": strongest % config.token_grid},
        "max_flow_px": float(np.max(np.hypot(features[:, 0], features[:, 1]))),
    }
    if as_json:
        summary["token_features"] = np.round(features, 6).tolist()
        typer.echo(json.dumps(summary))
    else:
        typer.echo(
            f"wrote {out}: {config.num_tokens} motion tokens, strongest at row {summary['strongest_token']['row']} "
            f"col {summary['strongest_token']['col']}, max magnified flow {summary['max_flow_px']:.2f} px"
        )
