"""MediaPipe's BlazeFace (full range) + face mesh, with numpy/OpenCV pre- and post-processing.

Detection follows MediaPipe's published graph for ``face_detection_full_range_sparse.tflite``: the frame
letterboxed to 192x192 RGB in [-1, 1]; 2304 fixed-size SSD anchors (one per cell of a 48x48 grid,
stride 4); box and six keypoints decoded relative to the anchor centre in units of the input size
(right eye, left eye, nose tip, mouth centre, right and left tragion — the subject's sides); sigmoid
scores above 0.6; *weighted* non-maximum suppression at IoU 0.3 (overlapping detections are averaged,
which steadies the box and keypoints from frame to frame).

Landmarks: the 468-point mesh (``face_landmark.tflite``) on a 192x192 RGB [0, 1] crop of the face,
1.5x its box, rotated so the eyes are level; the presence score (sigmoid of the second output) says
whether the crop still holds a face.
The full-range model was chosen over the short-range one by measurement (docs, "Faces"): the
short-range model misses faces under ~1/5 of the frame, as data-set frames and group photos have.
"""

from __future__ import annotations

import math
from functools import cache

import cv2
import numpy as np

from mpt_edge.faces import Face
from mpt_edge.faces.models import locate
from mpt_edge.faces.runtime import open_network

DETECT_SIZE = 192
MESH_SIZE = 192
MIN_SCORE = 0.6
NMS_IOU = 0.3
MESH_PRESENCE = 0.5
ROI_SCALE = 1.5
# Mesh indices (MediaPipe's canonical face): the contour of each eye, the mouth's corners and lips.
RIGHT_EYE = (
    33,
    7,
    163,
    144,
    145,
    153,
    154,
    155,
    133,
    173,
    157,
    158,
    159,
    160,
    161,
    246,
)  # subject's right (image left)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
MOUTH = (61, 291, 0, 17)


@cache
def anchors(size: int = DETECT_SIZE, stride: int = 4) -> np.ndarray:
    """(N, 2) anchor centres in [0, 1], one per grid cell, row-major (fixed anchor size 1)."""
    cells = size // stride
    ys, xs = np.mgrid[0:cells, 0:cells]
    return np.stack([(xs.ravel() + 0.5) / cells, (ys.ravel() + 0.5) / cells], 1).astype(np.float64)


def _rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def letterbox(frame: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """(size x size RGB uint8, scale, x pad, y pad): the frame shrunk (area-averaged) to fit, centred."""
    height, width = frame.shape[:2]
    scale = size / max(height, width)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    small = cv2.resize(_rgb(frame), (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    px, py = (size - w) // 2, (size - h) // 2
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[py : py + h, px : px + w] = small
    return canvas, w / width, px, py


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's WEIGHTED suppression: each cluster of boxes overlapping the best by > ``iou`` is
    replaced by their score-weighted mean (box and keypoints), scored by the best."""
    order = np.argsort(-scores)
    remaining = list(order)
    kept = []
    while remaining:
        best = remaining[0]
        candidates = np.array(remaining)
        x0 = np.maximum(boxes[best, 0], boxes[candidates, 0])
        y0 = np.maximum(boxes[best, 1], boxes[candidates, 1])
        x1 = np.minimum(boxes[best, 2], boxes[candidates, 2])
        y1 = np.minimum(boxes[best, 3], boxes[candidates, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        overlap = inter / np.maximum(_area(boxes[best]) + _area(boxes[candidates]) - inter, 1e-12)
        cluster = candidates[overlap > iou]
        weights = scores[cluster][:, None]
        kept.append(((boxes[cluster] * weights).sum(0) / weights.sum(), float(scores[best])))
        remaining = [r for r in remaining if r not in set(cluster.tolist())]
    return kept


def roi_matrix(centre: tuple[float, float], side: float, angle: float, size: int) -> np.ndarray:
    """Frame -> ``size`` crop: the ``side``-wide square around ``centre``, rotated by ``angle`` degrees
    (OpenCV's sense) so that the face in it is upright."""
    matrix = cv2.getRotationMatrix2D(centre, angle, size / side)
    matrix[:, 2] += np.array([size / 2.0, size / 2.0]) - np.array(centre)
    return matrix


def _eye_angle(right: np.ndarray, left: np.ndarray) -> float:
    """Degrees to rotate by (OpenCV's counter-clockwise sense) for a level eye line."""
    return math.degrees(math.atan2(left[1] - right[1], left[0] - right[0]))


class BlazeFaceMesh:
    name = "blazeface"

    def __init__(self, engine: str = "auto", min_score: float = MIN_SCORE) -> None:
        self.detector = open_network(locate("face_detection_full_range_sparse.tflite"), engine)
        self.mesh = open_network(locate("face_landmark.tflite"), engine)
        self.min_score = min_score

    def detect_boxes(self, frame: np.ndarray) -> list[Face]:
        """BlazeFace alone: boxes and its six keypoints (no mesh)."""
        canvas, scale, px, py = letterbox(frame, DETECT_SIZE)
        regressors, classificators = self.detector((canvas.astype(np.float32) / 127.5 - 1.0)[None])
        raw = regressors.reshape(-1, 16).astype(np.float64)
        logits = np.clip(classificators.reshape(-1).astype(np.float64), -100, 100)
        scores = 1 / (1 + np.exp(-logits))
        keep = scores >= self.min_score
        if not keep.any():
            return []
        raw, scores, centres = raw[keep] / DETECT_SIZE, scores[keep], anchors()[keep]
        cx, cy = raw[:, 0] + centres[:, 0], raw[:, 1] + centres[:, 1]
        w, h = raw[:, 2], raw[:, 3]
        keypoints = raw[:, 4:16].reshape(-1, 6, 2) + centres[:, None, :]
        packed = np.concatenate(
            [np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1), keypoints.reshape(-1, 12)], 1
        )
        faces = []
        for values, score in weighted_nms(packed, scores, NMS_IOU):
            # input pixels -> frame pixels: undo the padding and the scale
            values = values * DETECT_SIZE
            values[0::2] = (values[0::2] - px) / scale
            values[1::2] = (values[1::2] - py) / scale
            x0, y0, x1, y1 = values[:4]
            points = values[4:].reshape(6, 2)
            faces.append(
                Face(
                    (x0, y0, x1 - x0, y1 - y0),
                    score,
                    ((points[0, 0], points[0, 1]), (points[1, 0], points[1, 1])),
                    (points[3, 0], points[3, 1]),
                    points,
                    "blazeface",
                )
            )
        return sorted(faces, key=lambda f: -f.score)

    def landmarks(self, frame: np.ndarray, centre: tuple[float, float], side: float, angle: float) -> Face | None:
        """The mesh on the square (``centre``, ``side``, ``angle``) of the frame, or None if no face there."""
        matrix = roi_matrix(centre, side, angle, MESH_SIZE)
        crop = cv2.warpAffine(
            _rgb(frame), matrix, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        points, presence = self.mesh((crop.astype(np.float32) / 255.0)[None])
        if 1 / (1 + math.exp(-float(np.clip(presence.reshape(-1)[0], -100, 100)))) < MESH_PRESENCE:
            return None
        local = points.reshape(-1, 3)[:, :2].astype(np.float64)
        inverse = cv2.invertAffineTransform(matrix)
        mesh = local @ inverse[:, :2].T + inverse[:, 2]
        right, left = mesh[list(RIGHT_EYE)].mean(0), mesh[list(LEFT_EYE)].mean(0)
        mouth = mesh[list(MOUTH)].mean(0)
        x0, y0 = mesh.min(0)
        x1, y1 = mesh.max(0)
        return Face(
            (x0, y0, x1 - x0, y1 - y0),
            1.0,
            ((right[0], right[1]), (left[0], left[1])),
            (mouth[0], mouth[1]),
            mesh,
            "mesh",
        )

    def detect(self, frame: np.ndarray) -> list[Face]:
        """Every face BlazeFace finds, each with its mesh (a face the mesh rejects is kept with
        BlazeFace's own keypoints: the detector scored it, the crop may only be poor)."""
        faces = []
        for found in self.detect_boxes(frame):
            x, y, w, h = found.box
            (rx, ry), (lx, ly) = found.eyes  # type: ignore[misc]
            mesh = self.landmarks(
                frame, (x + w / 2, y + h / 2), max(w, h) * ROI_SCALE, _eye_angle(np.array([rx, ry]), np.array([lx, ly]))
            )
            faces.append(Face(found.box, found.score, mesh.eyes, mesh.mouth, mesh.points, "mesh") if mesh else found)
        return faces


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.asarray((boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1]))
