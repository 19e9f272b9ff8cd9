"""ONNX Runtime engine (CPU): FP32 and Q/DQ INT8 ONNX models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mpt_edge.engines.base import EngineBase
from mpt_edge.errors import InputError, library_reason


class OnnxRuntimeEngine(EngineBase):
    backend = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None, optimize: bool = True) -> None:
        """``optimize=False`` runs the graph op by op as written: the check of the strongly typed
        INT8 + FP16 TensorRT model. ORT's CPU fusions of its FP16 Q/DQ Gemms overflowed to inf on the
        pretrained DINOv2 (final [CLS] cosine 0.966 against FP32; 0.997 run as written)."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        if not optimize:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        # errors only: the FP16 TensorRT model (checked here on the CPU) makes ORT warn once per FP16
        # Mul it has no CPU kernel to constant-fold, hundreds of lines that say nothing to the user
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:
            raise InputError(f"ONNX Runtime cannot load {path} ({library_reason(error)}); rebuild it") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.input_shapes = {i.name: _dims(i.shape) for i in self.session.get_inputs()}
        self.output_shapes = {o.name: _dims(o.shape) for o in self.session.get_outputs()}

    def infer(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.session.run(None, {name: feeds[name] for name in self.input_names})[0])

    def _release(self) -> None:
        del self.session  # the session's memory arena goes with it


def _dims(shape: list[Any]) -> tuple[int | None, ...]:
    """Static dimensions as ints, dynamic ones (names, None) as None."""
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)
