"""A dense displacement field over a face from the motion of its mesh points: piecewise affine on the
mesh's triangles (each pixel moves as the barycentric mix of its triangle's three corners), zero off the
face. The contour of the mesh does not move (:mod:`train.data.realface.au_model`), so the field is
continuous where the face meets the background."""

from __future__ import annotations

import cv2
import numpy as np


def triangle_index_map(mesh: np.ndarray, triangles: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) int32: 1 + the index of the triangle covering each pixel, 0 off the mesh."""
    index = np.zeros(shape, np.int32)
    corners = np.round(mesh[triangles] * 16).astype(np.int32)  # 4 fractional bits: sub-pixel edges
    for k, triangle in enumerate(corners):
        cv2.fillConvexPoly(index, triangle, k + 1, lineType=cv2.LINE_8, shift=4)
    return index


def dense_field(
    mesh: np.ndarray, motion: np.ndarray, triangles: np.ndarray, shape: tuple[int, int], index: np.ndarray | None = None
) -> np.ndarray:
    """(H, W, 2) float32 displacement (dx, dy) in pixels: ``motion`` (N, 2) of the ``mesh`` (N, 2) points
    interpolated over ``triangles`` (T, 3); ``index``: :func:`triangle_index_map`, when already made."""
    if index is None:
        index = triangle_index_map(mesh, triangles, shape)
    field = np.zeros((*shape, 2), np.float32)
    ys, xs = np.nonzero(index)
    if len(xs) == 0:
        return field
    tri = index[ys, xs] - 1
    p0, p1, p2 = (mesh[triangles[:, k]] for k in range(3))
    edges = np.stack([p1 - p0, p2 - p0], axis=2)  # (T, 2, 2): columns are the two edges
    det = edges[:, 0, 0] * edges[:, 1, 1] - edges[:, 0, 1] * edges[:, 1, 0]
    safe = np.where(np.abs(det) < 1e-9, 1e-9, det)
    inverse = (
        np.stack([np.stack([edges[:, 1, 1], -edges[:, 0, 1]], 1), np.stack([-edges[:, 1, 0], edges[:, 0, 0]], 1)], 1)
        / safe[:, None, None]
    )
    offset = np.stack([xs, ys], 1).astype(np.float64) - p0[tri]
    local = np.einsum("nij,nj->ni", inverse[tri], offset)
    l1, l2 = np.clip(local[:, 0], 0, 1), np.clip(local[:, 1], 0, 1)
    l0 = np.clip(1.0 - l1 - l2, 0, 1)
    total = l0 + l1 + l2
    moved = (
        l0[:, None] * motion[triangles[tri, 0]]
        + l1[:, None] * motion[triangles[tri, 1]]
        + l2[:, None] * motion[triangles[tri, 2]]
    ) / total[:, None]
    field[ys, xs] = moved.astype(np.float32)
    return field
