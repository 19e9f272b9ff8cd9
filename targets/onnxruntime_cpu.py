"""Any CPU with ONNX Runtime: the FP32 ONNX model (the portable fallback) or its Q/DQ INT8 form."""

from __future__ import annotations

from mpt_edge.backends import Backend, OnnxRuntimeOptions, options_dict
from targets.profile import TargetProfile

PROFILES = [
    TargetProfile(
        name="onnxruntime-cpu",
        family="onnxruntime_cpu",
        backend=Backend.ONNXRUNTIME,
        precision="fp32",
        description="ONNX Runtime on the CPU, FP32",
        needs=("onnxruntime",),
        options=options_dict(OnnxRuntimeOptions()),
    ),
    TargetProfile(
        name="onnxruntime-cpu-int8",
        family="onnxruntime_cpu",
        backend=Backend.ONNXRUNTIME,
        precision="int8",
        calibration="onnxruntime",
        description="ONNX Runtime on the CPU, Q/DQ INT8",
        needs=("onnxruntime",),
        options=options_dict(OnnxRuntimeOptions()),
    ),
]
