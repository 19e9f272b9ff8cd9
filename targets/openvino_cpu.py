"""Intel/AMD CPUs with OpenVINO: NNCF INT8 IR, latency hint (one camera stream)."""

from __future__ import annotations

from mpt_edge.backends import Backend, OpenVinoOptions, options_dict
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
        options=options_dict(OpenVinoOptions()),
    ),
    TargetProfile(
        name="openvino-cpu-fp32",
        family="openvino_cpu",
        backend=Backend.OPENVINO,
        precision="fp32",
        description="OpenVINO on the CPU, FP32 (CPUs whose INT8 path is slow: no VNNI)",
        needs=("openvino",),
        options=options_dict(OpenVinoOptions()),
    ),
]
