"""Side-by-side picture of what the motion prompts see: onset | apex | magnified apex | motion heat map."""

from __future__ import annotations

import cv2
import numpy as np

from mpt_edge.motion.config import FEATURE_NAMES, MotionConfig
from mpt_edge.motion.images import as_float_pair, to_gray
from mpt_edge.motion.tokenize import token_centres

_FLOW_X, _FLOW_Y = FEATURE_NAMES.index("flow_x"), FEATURE_NAMES.index("flow_y")


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
    flow = features[:, [_FLOW_X, _FLOW_Y]]
    longest = float(np.max(np.hypot(flow[:, 0], flow[:, 1]))) or 1.0
    arrow_len = 0.45 * min(height, width) / config.token_grid
    for (cx, cy), (fx, fy) in zip(centres, flow):
        tip = (int(round(cx + fx / longest * arrow_len)), int(round(cy + fy / longest * arrow_len)))
        cv2.arrowedLine(heat, (int(round(cx)), int(round(cy))), tip, (255, 255, 0), 1, cv2.LINE_AA, tipLength=0.3)
    return heat


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
        cv2.putText(bar, caption, (4, int(caption_h * 0.75)), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 1, cv2.LINE_AA)
        out.append(np.vstack([bar, panel]))
    return np.hstack(out)
