"""Side-by-side picture of what the motion prompts see: onset | apex | magnified apex | motion heat map."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mpt_edge.motion.config import MotionConfig
from mpt_edge.motion.images import as_float_pair, to_gray
from mpt_edge.motion.tokenize import token_centres


def token_flow(features: np.ndarray, config: MotionConfig) -> np.ndarray:
    """(K, 2) each token's flow in px where its variant has one (lk, flow, strain); zeros for patch."""
    names = config.feature_names
    if "flow_x" not in names:
        return np.zeros((len(features), 2), np.float32)
    return np.asarray(features[:, [names.index("flow_x"), names.index("flow_y")]])


def token_energy(features: np.ndarray, config: MotionConfig) -> np.ndarray:
    """(K,) how much each token moves: its mean |difference| (lk), its flow magnitude (flow, strain),
    or the sum of its cells' |values| (patch)."""
    names = config.feature_names
    for name in ("mean_abs_diff", "flow_magnitude"):
        if name in names:
            return np.asarray(features[:, names.index(name)])
    return np.asarray(np.abs(features).sum(axis=1))


def _to_bgr_uint8(image: np.ndarray) -> np.ndarray:
    out = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_GRAY2BGR) if out.ndim == 2 else out


def motion_heatmap(onset: np.ndarray, magnified: np.ndarray, features: np.ndarray, config: MotionConfig) -> np.ndarray:
    """|magnified - onset| as a colour map, with each token's magnified flow drawn as an arrow."""
    onset_f, magnified_f = as_float_pair(onset, magnified)
    energy = np.abs(to_gray(magnified_f) - to_gray(onset_f))
    scale = float(np.percentile(energy, 99.5)) or 1.0
    heat = cv2.applyColorMap(np.clip(energy / scale * 255.0, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    height, width = energy.shape
    centres = token_centres(config, height, width)
    flow = token_flow(features, config)
    longest = float(np.max(np.hypot(flow[:, 0], flow[:, 1]))) or 1.0
    arrow_len = 0.45 * min(height, width) / config.token_grid
    for (cx, cy), (fx, fy) in zip(centres, flow):
        tip = (int(round(cx + fx / longest * arrow_len)), int(round(cy + fy / longest * arrow_len)))
        cv2.arrowedLine(heat, (int(round(cx)), int(round(cy))), tip, (255, 255, 0), 1, cv2.LINE_AA, tipLength=0.3)
    return np.asarray(heat)


def side_by_side(
    onset: np.ndarray, apex: np.ndarray, magnified: np.ndarray, features: np.ndarray, config: MotionConfig
) -> np.ndarray:
    """One uint8 BGR panel row with captions, ready for cv2.imencode."""
    onset_f, apex_f = as_float_pair(onset, apex)
    panels = [
        ("onset", _to_bgr_uint8(onset_f)),
        ("apex", _to_bgr_uint8(apex_f)),
        (f"magnified x{config.alpha:g}", _to_bgr_uint8(magnified)),
        ("motion + token flow", motion_heatmap(onset_f, magnified, features, config)),
    ]
    height = panels[0][1].shape[0]
    caption_h = max(18, height // 12)
    out = []
    for caption, panel in panels:
        bar = np.zeros((caption_h, panel.shape[1], 3), np.uint8)
        font_scale = caption_h / 36.0
        cv2.putText(
            bar,
            caption,
            (4, int(caption_h * 0.75)),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
        out.append(np.vstack([bar, panel]))
    return np.hstack(out)


@dataclass(frozen=True)
class MagnifiedPicture:
    """What ``mpt-edge magnify`` wrote: the picture, and the motion tokens it shows."""

    out: Path
    alpha: float
    size: tuple[int, int]
    config: MotionConfig
    features: np.ndarray = field(repr=False)

    @property
    def strongest_token(self) -> int:
        return int(np.argmax(token_energy(self.features, self.config)))

    @property
    def max_flow_px(self) -> float:
        flow = token_flow(self.features, self.config)
        return float(np.max(np.hypot(flow[:, 0], flow[:, 1])))

    def as_dict(self, with_features: bool = False) -> dict[str, Any]:
        strongest, grid = self.strongest_token, self.config.token_grid
        summary: dict[str, Any] = {
            "out": str(self.out),
            "alpha": self.alpha,
            "size": list(self.size),
            "tokens": self.config.num_tokens,
            "features": list(self.config.feature_names),
            "strongest_token": {"index": strongest, "row": strongest // grid, "col": strongest % grid},
            "max_flow_px": self.max_flow_px,
        }
        if with_features:
            summary["token_features"] = np.round(self.features, 6).tolist()
        return summary


def write_magnified_picture(
    onset: Path, apex: Path, alpha: float, out: Path, size: int | None = None
) -> MagnifiedPicture:
    """onset | apex | magnified apex | motion heat map of two face images, written atomically to ``out``."""
    from mpt_edge.errors import MptEdgeError
    from mpt_edge.io import atomic_write_bytes, read_image
    from mpt_edge.motion.images import check_alpha
    from mpt_edge.motion.magnify import LinearEulerianMagnifier
    from mpt_edge.motion.tokenize import gaussian_tokenize

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
            f"{onset} is {onset_img.shape[1]}x{onset_img.shape[0]} but {apex} is "
            f"{apex_img.shape[1]}x{apex_img.shape[0]}; "
            "pass --size 224 to resize both"
        )
    config = MotionConfig(alpha=alpha)
    magnified = LinearEulerianMagnifier(config)(onset_img, apex_img)
    features = gaussian_tokenize(onset_img, magnified, config)
    ok, encoded = cv2.imencode(suffix, side_by_side(onset_img, apex_img, magnified, features, config))
    if not ok:
        raise MptEdgeError(f"OpenCV could not encode {out}")
    atomic_write_bytes(out, encoded.tobytes())
    return MagnifiedPicture(out, alpha, (int(onset_img.shape[1]), int(onset_img.shape[0])), config, features)
