"""The one function that turns an aligned onset/apex pair into model inputs.

Training, calibration, export checks and the streaming runtime all call :func:`model_inputs`, so the
pixels the model sees cannot differ between the workstation and the device. numpy/OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np

from mpt_edge.motion.config import MotionConfig
from mpt_edge.motion.images import as_float_image
from mpt_edge.motion.tokenize import motion_inputs

#: ImageNet statistics the ViT backbones were pre-trained with (timm ``vit_*_patch16_224``).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_MEAN = np.array(IMAGENET_MEAN, np.float32)
_STD = np.array(IMAGENET_STD, np.float32)


def fit_face(frame: np.ndarray, face_size: int) -> np.ndarray:
    """Resize an aligned face crop to the model's face size (area filter: no aliasing when shrinking)."""
    if frame.shape[0] == face_size and frame.shape[1] == face_size:
        return frame
    return cv2.resize(frame, (face_size, face_size), interpolation=cv2.INTER_AREA)


def apex_image(apex_bgr: np.ndarray) -> np.ndarray:
    """(3, H, W) float32 RGB normalised with ImageNet mean/std, from a BGR (or gray) face crop."""
    image = as_float_image(apex_bgr, "apex frame")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    rgb = image[..., ::-1]
    return np.ascontiguousarray(((rgb - _MEAN) / _STD).transpose(2, 0, 1), dtype=np.float32)


def model_inputs(onset_bgr: np.ndarray, apex_bgr: np.ndarray, config: MotionConfig) -> tuple[np.ndarray, np.ndarray]:
    """Aligned onset/apex face crops -> (ViT image (3, S, S), motion prompts (K, F)), S = face size.
    The ViT image is the apex, or with ``config.vit_input == "magnified"`` the magnified apex
    (clipped to the 0..1 range a camera frame has)."""
    onset = fit_face(as_float_image(onset_bgr, "onset frame"), config.face_size)
    apex = fit_face(as_float_image(apex_bgr, "apex frame"), config.face_size)
    magnified, prompts = motion_inputs(onset, apex, config)
    vit_frame = np.clip(magnified, 0.0, 1.0) if config.vit_input == "magnified" else apex
    return apex_image(vit_frame), prompts
