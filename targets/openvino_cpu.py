"""Intel/AMD CPUs with OpenVINO: NNCF INT8 IR, latency hint (one camera stream)."""

from __future__ import annotations

from mpt_edge.backends import Backend
from targets.profile import TargetProfile

PROFILES = [
    TargetProfile(
        name="openvino-cpu",
        family="openvino_cpu",
        backend=Backend.OPENVINO,
        precision="int8",
        calibration="openvino",
        description="OpenVINO on the CPU: NNCF INT8 IR",
        needs=("openvino", "nncf"),
        options={"performance_hint": "LATENCY", "num_streams": 1},
    ),
    TargetProfile(
        name="openvino-cpu-fp32",
        family="openvino_cpu",
        backend=Backend.OPENVINO,
        precision="fp32",
        description="OpenVINO on the CPU, FP32 (CPUs whose INT8 path is slow: no VNNI)",
        needs=("openvino",),
        options={"performance_hint": "LATENCY", "num_streams": 1},
    ),
]
