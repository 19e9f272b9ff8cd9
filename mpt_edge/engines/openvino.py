"""OpenVINO engine (Intel CPU): FP32 ONNX or INT8 IR, compiled once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mpt_edge.engines.base import EngineBase
from mpt_edge.errors import InputError, MptEdgeError, library_reason


def isa_capped_below_bf16() -> bool:
    """Whether oneDNN is capped (ONEDNN_MAX_CPU_ISA) to an ISA without bf16 kernels. OpenVINO still
    reads BF16/AMX from the CPUID and picks bf16, which then has no kernel: measured here, an INT8 IR
    failed to compile under ``ONEDNN_MAX_CPU_ISA=AVX2`` on an AMX CPU. Such a cap means f32."""
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    return (
        bool(isa) and isa not in ("ALL", "DEFAULT") and not any(key in isa for key in ("BF16", "AMX", "FP16", "AVX10"))
    )


def openvino_module() -> Any:
    """OpenVINO, or one line naming the extra that installs it (a device install may lack it)."""
    try:
        import openvino as ov
    except ImportError:
        raise MptEdgeError(
            "this bundle runs on OpenVINO, which is not installed here: pip install 'mpt-edge[openvino]' "
            "(or build an onnxruntime-cpu bundle)"
        ) from None
    return ov


class OpenVinoEngine(EngineBase):
    backend = "openvino"

    def __init__(
        self, path: Path, threads: int | None = None, hint: str = "LATENCY", inference_precision: str | None = None
    ) -> None:
        """``inference_precision="f32"`` keeps an FP32 model in FP32: on CPUs with AVX-512 BF16 or AMX,
        OpenVINO otherwise runs it in bf16 (|Δlogit| ~5e-3 instead of ~1e-6)."""
        ov = openvino_module()
        core = ov.Core()
        config: dict[str, Any] = {"PERFORMANCE_HINT": hint}
        if inference_precision is None and isa_capped_below_bf16():
            inference_precision = "f32"
        if inference_precision:
            config["INFERENCE_PRECISION_HINT"] = inference_precision
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            self.compiled = core.compile_model(str(path), "CPU", config)
        except Exception as error:
            raise InputError(f"OpenVINO cannot load {path} ({library_reason(error)}); rebuild it") from None
        self.input_names = [port.get_any_name() for port in self.compiled.inputs]
        self.input_shapes = {port.get_any_name(): _dims(port.get_partial_shape()) for port in self.compiled.inputs}
        self.output_shapes = {port.get_any_name(): _dims(port.get_partial_shape()) for port in self.compiled.outputs}
        self.request = self.compiled.create_infer_request()

    def infer(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        result = self.request.infer({name: feeds[name] for name in self.input_names})
        return np.asarray(result[self.compiled.outputs[0]])

    def _release(self) -> None:
        del self.request, self.compiled


def _dims(shape: Any) -> tuple[int | None, ...]:
    """Static dimensions as ints, dynamic ones as None."""
    return tuple(d.get_length() if d.is_static else None for d in shape)
