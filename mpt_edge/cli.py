"""The `mpt-edge` command line: one command per stage (DESIGN §2, §4).

Workstation stages (train/export/calibrate/build) import their torch-side packages lazily inside the
command, so the device install never needs torch. User errors print one line and exit 2.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Callable, Optional, TypeVar

import typer

from mpt_edge import __version__
from mpt_edge.errors import MptEdgeError
from mpt_edge.motion.config import DEFAULT_ALPHA

app = typer.Typer(
    name="mpt-edge",
    help="Micro-expression recognition (Motion Prompt Tuning) from workstation to edge device.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

F = TypeVar("F", bound=Callable[..., object])

EXIT_USER_ERROR = 2
EXIT_NOT_BUILT = 3


def user_errors(func: F) -> F:
    """Turn MptEdgeError (and its InputError/ValueError kin) into one line on stderr and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return func(*args, **kwargs)
        except MptEdgeError as error:
            typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
            raise typer.Exit(EXIT_USER_ERROR) from None

    return wrapper  # type: ignore[return-value]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"mpt-edge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
) -> None:
    """Train -> export -> calibrate -> build -> run."""


def _not_built(stage: str, issue: int) -> None:
    typer.secho(
        f"error: `mpt-edge {stage}` is not built yet in mpt-edge {__version__} (planned in issue #{issue}); nothing was done",
        err=True,
        fg=typer.colors.YELLOW,
    )
    raise typer.Exit(EXIT_NOT_BUILT)


_STAGES = {
    "train": ("Train MPT (LOSO or holdout) on a data set or the built-in synthetic set.", 3),
    "export": ("Export a trained checkpoint to ONNX.", 5),
    "calibrate": ("Quantize an exported model to INT8 with a calibration set.", 5),
    "build": ("Build a deployable bundle for a target (jetson-orin, openvino-cpu, ...).", 6),
    "run": ("Stream a camera or video through the model and print micro-expression events.", 7),
    "bench": ("Benchmark a built bundle: latency p50/p99 and throughput.", 6),
}


def _register_pending_stage(stage: str, summary: str, issue: int) -> None:
    def command(
        args: Optional[list[str]] = typer.Argument(None, hidden=True),
    ) -> None:
        _not_built(stage, issue)

    command.__doc__ = f"{summary} (not built yet: issue #{issue})"
    app.command(name=stage, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(command)


for _stage, (_summary, _issue) in _STAGES.items():
    _register_pending_stage(_stage, _summary, _issue)


def _read_image(path: Path):
    import cv2

    if not path.is_file():
        raise MptEdgeError(f"image {path} does not exist; check the path")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise MptEdgeError(f"cannot decode image {path}: not an image OpenCV can read (use PNG/JPEG/BMP)")
    return image


@app.command()
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

    from mpt_edge.io import atomic_write_bytes
    from mpt_edge.motion import FEATURE_NAMES, LinearEulerianMagnifier, MotionConfig, gaussian_tokenize
    from mpt_edge.motion.images import check_alpha
    from mpt_edge.motion.visualize import side_by_side

    check_alpha(alpha)
    if size is not None and size < 32:
        raise MptEdgeError(f"--size {size} is too small; use at least 32 (the model uses 224)")
    suffix = out.suffix.lower()
    if suffix not in {".png", ".jpg", ".jpeg", ".bmp"}:
        raise MptEdgeError(f"--out {out}: unsupported picture type {suffix or '(none)'}; use .png or .jpg")
    onset_img, apex_img = _read_image(onset), _read_image(apex)
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


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
