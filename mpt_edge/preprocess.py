"""The one function that turns an aligned onset/apex pair into model inputs.

Training, calibration, export checks and the streaming runtime all call :func:`model_inputs`, so the
pixels the model sees cannot differ between the workstation and the device. numpy/OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np

from mpt_edge.motion.config import IMAGENET_MEAN, IMAGENET_STD, MotionConfig
from mpt_edge.motion.images import as_float_image
from mpt_edge.motion.tokenize import motion_inputs


def fit_face(frame: np.ndarray, face_size: int) -> np.ndarray:
    """Resize an aligned face crop to the model's face size (area filter: no aliasing when shrinking)."""
    if frame.shape[0] == face_size and frame.shape[1] == face_size:
        return frame
    return cv2.resize(frame, (face_size, face_size), interpolation=cv2.INTER_AREA)


def apex_image(
    apex_bgr: np.ndarray,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> np.ndarray:
    """(3, H, W) float32 RGB normalised with the backbone's mean/std, from a BGR (or gray) face crop."""
    image = as_float_image(apex_bgr, "apex frame")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    rgb = image[..., ::-1]
    normalised = (rgb - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1), dtype=np.float32)


def model_inputs(
    onset_bgr: np.ndarray, apex_bgr: np.ndarray, config: MotionConfig, mirror: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned onset/apex face crops -> (ViT image (3, S, S), motion prompts (K, F)), S = face size.
    The ViT image is the apex, or with ``config.vit_input == "magnified"`` the magnified apex
    (clipped to the 0..1 range a camera frame has). ``mirror``: both crops' left and right swapped first."""
    onset = fit_face(as_float_image(onset_bgr, "onset frame"), config.face_size)
    apex = fit_face(as_float_image(apex_bgr, "apex frame"), config.face_size)
    if mirror:
        onset, apex = np.ascontiguousarray(onset[:, ::-1]), np.ascontiguousarray(apex[:, ::-1])
    magnified, prompts = motion_inputs(onset, apex, config)
    vit_frame = np.clip(magnified, 0.0, 1.0) if config.vit_input == "magnified" else apex
    return apex_image(vit_frame, config.image_mean, config.image_std), prompts


def readings(config: MotionConfig) -> tuple[bool, ...]:
    """How a pair is read, as ``mirror`` flags of :func:`model_inputs`: once as it is, and with
    ``config.read_mirrored`` once more mirrored. The class scores are the mean of the readings' softmax."""
    return (False, True) if config.read_mirrored else (False,)


def model_readings(
    onset_bgr: np.ndarray, apex_bgr: np.ndarray, config: MotionConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`model_inputs` of every reading of one pair (:func:`readings`)."""
    return [model_inputs(onset_bgr, apex_bgr, config, mirror) for mirror in readings(config)]
