"""Running the small face networks on the engines the device already has.

OpenVINO reads MediaPipe's ``.tflite`` files and MTCNN's ``.onnx`` directly; ONNX Runtime (in every
mpt-edge install) runs the ``.onnx`` files where OpenVINO is absent (a Jetson). The networks run in
f32: on AVX-512 BF16 / AMX CPUs OpenVINO would otherwise pick bf16, which moves landmarks by tenths
of a pixel between frames — more than the motion the spotter looks for. One thread each: they run
beside the recognition model, and at these sizes a second thread buys little.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from mpt_edge.errors import MptEdgeError

Runner = Callable[[np.ndarray], list[np.ndarray]]  # NHWC float32 batch -> outputs in the model's order


@cache
def open_network(path: Path, engine: str = "auto") -> Runner:
    """A callable running one network. ``engine``: auto (OpenVINO if installed), openvino, onnxruntime."""
    path = Path(path)
    if engine not in ("auto", "openvino", "onnxruntime"):
        raise MptEdgeError(f"face engine {engine!r}: choose auto, openvino or onnxruntime")
    if engine in ("auto", "openvino"):
        try:
            import openvino as ov
        except ImportError:
            if engine == "openvino" or path.suffix == ".tflite":
                raise MptEdgeError(
                    f"{path.name} needs OpenVINO to run (pip install 'mpt-edge[openvino]'); on a device without it "
                    "use --face mtcnn"
                ) from None
        else:
            return _openvino(ov, path)
    if path.suffix == ".tflite":
        raise MptEdgeError(
            f"{path.name} is a TFLite model: ONNX Runtime cannot read it; use OpenVINO (pip "
            "install 'mpt-edge[openvino]') or --face mtcnn"
        )
    return _onnxruntime(path)


def _openvino(ov: Any, path: Path) -> Runner:
    core = ov.Core()
    model = core.read_model(str(path))
    dynamic = any(i.get_partial_shape().is_dynamic for i in model.inputs)
    compiled = core.compile_model(
        model, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY"}
    )
    request = compiled.create_infer_request()
    outputs = list(compiled.outputs)

    def run(batch: np.ndarray) -> list[np.ndarray]:
        if dynamic:  # a new shape (MTCNN's pyramid levels, batch sizes): a fresh request keeps it simple
            result = compiled(np.ascontiguousarray(batch, np.float32))
            return [np.asarray(result[o]) for o in outputs]
        request.infer({0: np.ascontiguousarray(batch, np.float32)})
        return [np.array(request.get_tensor(o).data) for o in outputs]

    return run


def _onnxruntime(path: Path) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> list[np.ndarray]:
        return list(session.run(None, {name: np.ascontiguousarray(batch, np.float32)}))

    return run
