"""Motion prompt generation on the device: magnification and Gaussian tokenization (numpy/OpenCV)."""

from mpt_edge.motion.config import DEFAULT_ALPHA, FEATURE_NAMES, MotionConfig
from mpt_edge.motion.magnify import LinearEulerianMagnifier, Magnifier, magnify
from mpt_edge.motion.tokenize import gaussian_tokenize, motion_inputs, motion_prompts, token_centres

__all__ = [
    "DEFAULT_ALPHA",
    "FEATURE_NAMES",
    "LinearEulerianMagnifier",
    "Magnifier",
    "MotionConfig",
    "gaussian_tokenize",
    "magnify",
    "motion_inputs",
    "motion_prompts",
    "token_centres",
]
