"""NVIDIA Jetson Orin targets: TensorRT from the strongly typed ONNX (INT8 Q/DQ on MatMul/Gemm/Conv,
FP16 elsewhere, FP32 where accuracy needs it: :mod:`calibrate.mixed_precision`).

A TensorRT engine is specific to the GPU and TensorRT version it was built with, so a Jetson engine
is built *on the Jetson*: the bundle carries the Q/DQ ONNX, ``build_engine.sh`` (trtexec) and
``build_engine.py`` (TensorRT Python API, the same code the runtime uses to build-and-cache on first
start). On a workstation with TensorRT and an NVIDIA GPU, ``mpt-edge build`` also builds the engine
for *that* GPU and validates it against ONNX Runtime (useful for checking, not for the Jetson).
"""

from __future__ import annotations

from typing import Any

from mpt_edge.backends import Backend, TensorRtOptions, options_dict
from targets.profile import TargetProfile

_COMMON: dict[str, Any] = dict(
    family="jetson", backend=Backend.TENSORRT, precision="int8", needs=("onnxruntime", "onnx"), calibration="tensorrt"
)

PROFILES = [
    TargetProfile(
        name="jetson-orin",
        description="Jetson AGX Orin / Orin NX: TensorRT strongly typed INT8 + FP16 on the GPU",
        options=options_dict(TensorRtOptions(workspace_mb=2048)),
        **_COMMON,
    ),
    TargetProfile(
        name="jetson-orin-nano",
        description="Jetson Orin Nano: TensorRT strongly typed INT8 + FP16, small workspace, no DLA",
        options=options_dict(TensorRtOptions(workspace_mb=768)),
        **_COMMON,
    ),
    TargetProfile(
        name="jetson-orin-dla",
        description="Jetson AGX Orin: DLA core 0 (TensorRT 10 only), unsupported layers fall back to the GPU",
        options=options_dict(TensorRtOptions(workspace_mb=2048, dla_core=0)),
        **_COMMON,
    ),
]
