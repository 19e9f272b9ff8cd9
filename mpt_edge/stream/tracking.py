"""Following the face between detections for the price of a few small FFTs and one ECC step.

Every frame the aligned crop, reduced to the spotter's small gray face (:func:`face_signal`), is
compared with the *anchor* face (the one seen when the crop was last placed), on its central part
only (the crop's margins show background, which stays put while the head moves):

1. phase correlation of the whole central region (is the face still there, roughly where?), and of
   a 3x3 grid of half-overlapping patches; the median of the patches' shifts is the estimate — a
   micro-expression moves one or two patches (brows, mouth corners), not most, so it cannot drag
   the estimate with it;
2. OpenCV's ECC alignment, started from that estimate and run on the patches that agree with it,
   refines it to ~0.02 px and gives a correlation coefficient: the face against itself in sensor
   noise scores 0.9+, against a wall ~0 — a clearer "still the face?" than the correlation peak.

Measured on synthetic faces with known shifts: phase correlation alone was off by up to 0.12 px for
shifts of half a pixel or more, which the spotter (sensitive to hundredths of a pixel on sharp
edges) saw as motion. Note ``cv2.phaseCorrelate`` windows its inputs *in place*: copies are passed.
Rotation and scale are not measured; slow ones are followed by the spotter's neutral baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class TrackerConfig:
    min_response: float = 0.5  # ECC correlation with the anchor face: itself in sensor noise 0.9+, a wall ~0
    deadband: float = 0.04  # small-image px (~0.09 crop px): residual motion below this is left alone
    # Only the central part of the crop is correlated: the crop's margins show the background, which
    # stays put while the head moves (measured: whole-crop estimates 20 % short and flipping between
    # the face's and the background's motion).
    inner: float = 0.66
    patch_response: float = 0.2  # a patch's own correlation peak below this (a flat cheek) does not vote


@dataclass(frozen=True)
class Measurement:
    dx: float  # translation of the face since the anchor, in small-image pixels
    dy: float
    response: float  # ECC correlation coefficient with the anchor face (0: lost)

    @property
    def distance(self) -> float:
        return float(np.hypot(self.dx, self.dy))


class CropTracker:
    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        self.config = config
        self.reference: np.ndarray | None = None
        self.shape: tuple[int, ...] | None = None
        self.window: np.ndarray | None = None
        self.patch_window: np.ndarray | None = None
        self.rigid: np.ndarray | None = None  # (small-face) pixels ECC may use: see set_rigid
        self._use_rigid = False

    def set_rigid(self, pixels: np.ndarray | None) -> None:
        """The pixels of the small face that move with the head alone (True), for :meth:`measure` with
        ``rigid``: while the lids move (a blink) the face's motion is measured without them. Measured with
        them, a real face seemed to move by 0.2-0.8 px at every blink, the crop followed, and the lips'
        sharp edges showed that shift as a micro-expression (on the tuning people, most false MEs at blinks
        peaked in the mouth within 2 frames of the blink). Not always: a drawn face's texture is mostly its
        eyes, and measured without them its head moves were followed worse (events lost, the face lost)."""
        self.rigid = None if pixels is None else self._centre(pixels.astype(np.float32)) > 0.5

    def _centre(self, small: np.ndarray) -> np.ndarray:
        height, width = small.shape
        my, mx = int(height * (1 - self.config.inner) / 2), int(width * (1 - self.config.inner) / 2)
        return np.array(
            small[my : height - my, mx : width - mx], np.float32
        )  # a copy: phaseCorrelate windows its inputs in place

    def anchor(self, small: np.ndarray) -> None:
        """Make ``small`` (a :func:`face_signal` image) the face later frames are measured against."""
        self.shape = small.shape
        self.reference = self._centre(small)
        if self.window is None or self.window.shape != self.reference.shape:
            self.window = cv2.createHanningWindow(self.reference.shape[::-1], cv2.CV_32F)

    def measure(self, small: np.ndarray, rigid: bool = False) -> Measurement:
        """The face's translation since the anchor (``rigid``: on the rigid pixels only, see :meth:`set_rigid`)."""
        self._use_rigid = rigid
        return self._measure(small)

    def _measure(self, small: np.ndarray) -> Measurement:
        if self.reference is None or self.shape != small.shape:
            self.anchor(small)
            return Measurement(0.0, 0.0, 1.0)
        current = self._centre(small)
        (dx, dy), response = cv2.phaseCorrelate(self.reference.copy(), current.copy(), self.window)
        if not np.isfinite(response) or not (np.isfinite(dx) and np.isfinite(dy)):
            return Measurement(0.0, 0.0, 0.0)
        patches = self._patch_shifts(current)
        inliers = None
        if len(patches) >= 3:  # robust to a micro-expression: it moves one or two patches, not most
            dx, dy = (float(v) for v in np.median(patches[:, 2:], axis=0))
            inliers = patches[np.hypot(patches[:, 2] - dx, patches[:, 3] - dy) < 0.3]
        return Measurement(*self._refine(current, dx, dy, inliers))

    def _patch_shifts(self, current: np.ndarray) -> np.ndarray:
        """(y, x, dx, dy) of the patches of a 3x3 grid (half-overlapping) whose correlation is clear."""
        assert self.reference is not None
        height, width = current.shape
        size = min(height, width) // 2
        if self.patch_window is None or self.patch_window.shape != (size, size):
            self.patch_window = cv2.createHanningWindow((size, size), cv2.CV_32F)
        found = []
        for y in np.linspace(0, height - size, 3).astype(int):
            for x in np.linspace(0, width - size, 3).astype(int):
                (px, py), response = cv2.phaseCorrelate(
                    self.reference[y : y + size, x : x + size].copy(),
                    current[y : y + size, x : x + size].copy(),
                    self.patch_window,
                )
                if np.isfinite(response) and response >= self.config.patch_response:
                    found.append((y, x, px, py))
        return np.asarray(found, np.float64).reshape(-1, 4)

    def _refine(
        self, current: np.ndarray, dx: float, dy: float, inliers: np.ndarray | None
    ) -> tuple[float, float, float]:
        """ECC translation from the robust estimate, on the patches that agree with it (kept only if it
        stays near it), and ECC's correlation coefficient: the face against a wall scores ~0, against
        itself in sensor noise 0.9+, a clearer "is it still the face" than the phase-correlation peak."""
        warp = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        mask = None
        if inliers is not None and len(inliers):
            size = min(current.shape) // 2
            mask = np.zeros(current.shape, np.uint8)
            for y, x, *_ in inliers.astype(int):
                mask[y : y + size, x : x + size] = 255
        if self._use_rigid and self.rigid is not None and self.rigid.shape == current.shape:
            mask = np.where(self.rigid, mask if mask is not None else 255, 0).astype(np.uint8)
        if self.reference is None:  # nothing to compare with yet: as ECC failing
            return dx, dy, 0.0
        try:
            similarity, warp = cv2.findTransformECC(  # type: ignore[assignment]
                self.reference,
                current,
                warp,
                cv2.MOTION_TRANSLATION,
                (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 1e-4),
                mask,  # type: ignore[arg-type]  # None (no mask) is valid; the stubs say otherwise
                1,
            )
        except cv2.error:  # did not converge (nothing to correlate, e.g. a blank wall): not the face
            return dx, dy, 0.0
        rx, ry = float(warp[0, 2]), float(warp[1, 2])
        return (rx, ry, float(similarity)) if np.hypot(rx - dx, ry - dy) < 1.0 else (dx, dy, float(similarity))

    def lost(self, measurement: Measurement) -> bool:
        return measurement.response < self.config.min_response
