"""The inference backends in one table, as NNCF dispatches on one ``BackendType``: their names (a manifest's
``backend``, ``calibrate --backend``), their options, and the facts about them that several stages act on —
data only: how each opens a bundle's model is :data:`mpt_edge.engines.OPENERS`, calibrate's quantizer
:data:`calibrate.backends.QUANTIZERS`, the bundle's files :data:`targets.build.BUNDLE_FILES`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any, TypeVar

from mpt_edge.errors import InputError


class Backend(str, Enum):
    """A backend's name; equal to its string (``Backend.OPENVINO == "openvino"``), as manifests store it."""

    ONNXRUNTIME = "onnxruntime"
    OPENVINO = "openvino"
    TENSORRT = "tensorrt"
    TRITON = "triton"

    @property
    def spec(self) -> BackendSpec:
        return BACKENDS[self]

    def __str__(self) -> str:
        return self.value


def _check_range(owner: str, name: str, value: object, low: int, high: int) -> None:
    """One line naming the option when an integer option is not an integer in low..high."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InputError(f"{owner}.{name} = {value!r}: need an integer in {low}..{high}")


@dataclass(frozen=True)
class OnnxRuntimeOptions:
    intra_op_threads: int = 0  # 0: ONNX Runtime's own choice (one per core)

    def __post_init__(self) -> None:
        from mpt_edge.limits import ENGINE_THREADS

        _check_range("onnxruntime", "intra_op_threads", self.intra_op_threads, 0, int(ENGINE_THREADS.value))


PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT")


@dataclass(frozen=True)
class OpenVinoOptions:
    performance_hint: str = "LATENCY"  # one camera stream: latency, not throughput
    num_streams: int = 1

    def __post_init__(self) -> None:
        from mpt_edge.limits import ENGINE_THREADS

        if self.performance_hint not in PERFORMANCE_HINTS:
            raise InputError(
                f"openvino.performance_hint = {self.performance_hint!r}: choose {', '.join(PERFORMANCE_HINTS)}"
            )
        _check_range("openvino", "num_streams", self.num_streams, 1, int(ENGINE_THREADS.value))


@dataclass(frozen=True)
class TensorRtOptions:
    workspace_mb: int = 1024
    dla_core: int | None = None  # a Jetson's DLA core, or None for the GPU
    gpu_fallback: bool = True  # layers the DLA cannot run fall back to the GPU
    builder_optimization_level: int = 3  # TensorRT's default

    def __post_init__(self) -> None:
        _check_range("tensorrt", "workspace_mb", self.workspace_mb, 1, 1 << 20)  # up to 1 TiB
        if self.dla_core is not None:
            _check_range("tensorrt", "dla_core", self.dla_core, 0, 1)  # Orin has DLA 0 and 1
        if not isinstance(self.gpu_fallback, bool):
            raise InputError(f"tensorrt.gpu_fallback = {self.gpu_fallback!r}: need true or false")
        _check_range("tensorrt", "builder_optimization_level", self.builder_optimization_level, 0, 5)


Options = TypeVar("Options", OnnxRuntimeOptions, OpenVinoOptions, TensorRtOptions)


def options_of(kind: type[Options], options: Mapping[str, Any]) -> Options:
    """A target's backend options (a manifest's ``target.options``) as their dataclass: one place for each
    default, so a bundle written before an option existed opens with that option's default."""
    names = {f.name for f in fields(kind)}
    return kind(**{k: v for k, v in options.items() if k in names})


def options_dict(options: OnnxRuntimeOptions | OpenVinoOptions | TensorRtOptions, **extra: Any) -> dict[str, Any]:
    """A profile's options as the manifest stores them."""
    return {**asdict(options), **extra}


@dataclass(frozen=True)
class BackendSpec:
    """What the stages know of a backend, as data: how to open one is :data:`mpt_edge.engines.OPENERS`'."""

    description: str
    int8_file: str | None  # the INT8 model `calibrate` writes for it (None: it has no INT8 route of its own)
    checked_as_written: bool  # its INT8 model is checked op by op in ONNX Runtime (TensorRT's strongly typed graph)
    options: type[OnnxRuntimeOptions] | type[OpenVinoOptions] | type[TensorRtOptions] | None = None  # target.options


BACKENDS: dict[Backend, BackendSpec] = {
    Backend.ONNXRUNTIME: BackendSpec(
        "ONNX Runtime on the CPU", "model_int8_qdq_onnxruntime.onnx", False, OnnxRuntimeOptions
    ),
    Backend.OPENVINO: BackendSpec("OpenVINO on the CPU (NNCF INT8)", "model_int8.xml", False, OpenVinoOptions),
    Backend.TENSORRT: BackendSpec(
        "TensorRT on an NVIDIA GPU or Jetson", "model_int8_qdq_tensorrt.onnx", True, TensorRtOptions
    ),
    Backend.TRITON: BackendSpec("a Triton Inference Server, over gRPC", None, False),
}
CALIBRATION_BACKENDS = tuple(
    b for b in (Backend.OPENVINO, Backend.TENSORRT, Backend.ONNXRUNTIME) if BACKENDS[b].int8_file
)


def parse_backend(name: str, option: str = "--backend", calibrating: bool = False) -> Backend:
    """The backend ``name`` names; an unknown one is a one-line error listing the choices."""
    choices = CALIBRATION_BACKENDS if calibrating else tuple(Backend)
    try:
        backend = Backend(name)
    except ValueError:
        backend = None
    if backend is None or backend not in choices:
        raise InputError(f"unknown {option} {name!r}; choose one of {', '.join(b.value for b in choices)}")
    return backend
