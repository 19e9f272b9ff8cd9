"""Inference engines behind one small interface (Polygraphy style): ``engine.infer(feeds) -> logits``.

Each backend imports its library only when an engine is created, so the device install needs only
the runtime it actually uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mpt_edge.backends import Backend, OnnxRuntimeOptions, OpenVinoOptions, options_of
from mpt_edge.errors import InputError

if TYPE_CHECKING:
    from mpt_edge.bundle import BundleFiles


Shape = tuple[int | None, ...]  # None: a dynamic dimension
Log = Callable[[str], None]


class Engine(Protocol):
    """An opened model: ``infer`` as often as needed, then ``close`` (or ``with engine:``)."""

    backend: str
    input_names: list[str]

    def infer(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Logits (B, classes) for named float32 inputs."""
        ...

    def close(self) -> None:
        """Free the runtime's resources (sessions, CUDA memory, connections)."""
        ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None, /
    ) -> None: ...


def open_engine(path: str | Path, threads: int | None = None, optimize: bool = True) -> Engine:
    """The engine for a model file, chosen by its type: ``.onnx`` (Q/DQ or FP32) or OpenVINO ``.xml``.
    ``optimize=False``: an ONNX model run op by op as written (the TensorRT model's CPU check)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file {path} does not exist; build or calibrate it first")
    if path.suffix == ".onnx":
        from mpt_edge.engines.onnxruntime import OnnxRuntimeEngine

        return OnnxRuntimeEngine(path, threads, optimize)
    if path.suffix == ".xml":
        from mpt_edge.engines.openvino import OpenVinoEngine

        return OpenVinoEngine(path, threads)
    raise InputError(f"{path}: unknown model type {path.suffix!r}; expected .onnx or an OpenVINO .xml")


def check_engine_io(engine: object, bundle: BundleFiles, model: Path) -> None:
    """The model a bundle opened takes the inputs and gives the output its manifest says, checked when the
    engine opens: a model swapped for another build is one line before the first frame, not a crash at
    the first event. Dynamic dimensions (None) match any size."""
    inputs: dict[str, Shape] | None = getattr(engine, "input_shapes", None)
    outputs: dict[str, Shape] | None = getattr(engine, "output_shapes", None)
    if inputs is None or outputs is None:
        return  # a remote engine checks the served model itself (mpt_edge.engines.triton)
    expected = {name: tuple(shape) for name, shape in bundle.inputs.items()}

    def fits(shape: Shape, want: Shape) -> bool:
        return len(shape) == len(want) and all(d is None or d == w for d, w in zip(shape, want))

    fix = "the model file belongs to another build: rebuild the bundle with `mpt-edge build`"
    if set(inputs) != set(expected):
        raise InputError(
            f"{model} takes inputs {sorted(inputs)}, but the manifest of {bundle.root} says {sorted(expected)}; {fix}"
        )
    for name, shape in inputs.items():
        if not fits(shape, expected[name]):
            raise InputError(
                f"{model} input {name} has shape {list(shape)}, the manifest of {bundle.root} "
                f"says {list(expected[name])}; {fix}"
            )
    want = [tuple(shape) for shape in bundle.outputs.values()]
    given = list(outputs.values())
    if len(given) != len(want) or not all(fits(g, w) for g, w in zip(given, want)):
        raise InputError(
            f"{model} gives outputs of shapes {[list(g) for g in given]}, the manifest of {bundle.root} says "
            f"{[list(w) for w in want]} ({len(bundle.manifest.class_names)} classes); {fix}"
        )


@dataclass(frozen=True)
class OpenedBundle:
    """A verified bundle, the precision chosen for this machine, and its engine (close the engine)."""

    files: BundleFiles
    precision: str
    engine: Engine


def open_bundle(path: Path, precision: str = "auto", server: str | None = None, log: Log = print) -> OpenedBundle:
    """The one way a bundle is opened to run: load and verify it, resolve ``precision`` (auto: the faster
    here, timed once and cached; int8 / fp32 where it carries both), open and check its engine."""
    from mpt_edge.bundle import load_bundle
    from mpt_edge.precision import resolve_precision

    files = load_bundle(Path(path))
    chosen = resolve_precision(files, precision, log) or files.precision
    return OpenedBundle(files, chosen, open_bundle_engine(files, log, precision=chosen, server=server))


@dataclass(frozen=True)
class Opening:
    """What opening a bundle's model needs: the model file, its precision, the target's options."""

    bundle: BundleFiles
    model: Path
    precision: str
    options: dict[str, Any]
    server: str | None
    log: Callable[[str], None]


def _open_onnxruntime(opening: Opening) -> Engine:
    from mpt_edge.engines.onnxruntime import OnnxRuntimeEngine

    return OnnxRuntimeEngine(opening.model, options_of(OnnxRuntimeOptions, opening.options).intra_op_threads or None)


def _open_openvino(opening: Opening) -> Engine:
    from mpt_edge.engines.openvino import OpenVinoEngine

    # an FP32 model stays FP32: OpenVINO would quietly run it in bf16 on AVX-512 BF16 / AMX CPUs
    return OpenVinoEngine(
        opening.model,
        hint=options_of(OpenVinoOptions, opening.options).performance_hint,
        inference_precision="f32" if opening.precision == "fp32" else None,
    )


def _open_tensorrt(opening: Opening) -> Engine:
    from mpt_edge.engines.tensorrt import TensorRtEngine

    bundle = opening.bundle
    engine_file = bundle.path("engine")
    return TensorRtEngine(engine_file, onnx_path=opening.model, options=opening.options, log=opening.log)


def _open_triton(opening: Opening) -> Engine:
    from mpt_edge.engines.triton import TritonEngine

    bundle = opening.bundle
    if not opening.server:
        raise InputError(
            f"bundle {bundle.root} is a Triton model repository: serve it with tritonserver and pass "
            "--server grpc://HOST:8001"
        )
    model = bundle.manifest.triton_models[opening.precision]
    return TritonEngine(opening.server, model, bundle.inputs, bundle.outputs, opening.log)


OPENERS: dict[Backend, Callable[[Opening], Engine]] = {
    Backend.ONNXRUNTIME: _open_onnxruntime,
    Backend.OPENVINO: _open_openvino,
    Backend.TENSORRT: _open_tensorrt,
    Backend.TRITON: _open_triton,
}


def open_bundle_engine(
    bundle: BundleFiles, log: Log = print, precision: str | None = None, server: str | None = None
) -> Engine:
    """The bundle's engine (:func:`_open_bundle_engine`), its inputs and outputs checked against the manifest."""
    engine = _open_bundle_engine(bundle, log, precision, server)
    role = bundle.models.get(precision or bundle.precision, "model")
    check_engine_io(engine, bundle, bundle.path(role))
    return engine


def _open_bundle_engine(
    bundle: BundleFiles, log: Log = print, precision: str | None = None, server: str | None = None
) -> Engine:
    """The engine of one of the bundle's models (``precision``: int8 or fp32 where the bundle carries
    both, see mpt_edge.precision; None: the target's own precision), with the manifest's options;
    ``server``: a Triton server (grpc://HOST:PORT) serving this bundle (a triton-* model repository)."""
    options = bundle.target_options
    models = bundle.models
    precision = precision or bundle.precision
    if precision not in models:
        raise InputError(f"bundle {bundle.root} has no {precision} model (it carries {', '.join(sorted(models))})")
    backend = Backend(bundle.backend)  # a manifest names a known backend (mpt_edge.manifest checked it)
    if server and backend != Backend.TRITON:
        raise InputError(
            "--server needs a Triton model repository: build one with `mpt-edge build ... "
            f"--target triton-cpu` (bundle {bundle.root} is {bundle.backend})"
        )
    model = bundle.path(models[precision]) if backend != Backend.TRITON else bundle.root
    return OPENERS[backend](Opening(bundle, model, precision, options, server, log))
