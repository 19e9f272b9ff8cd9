"""Target registry: one module per family declares its profiles as data; ``get_target`` finds them."""

from __future__ import annotations

from mpt_edge.errors import MptEdgeError
from targets import jetson, onnxruntime_cpu, openvino_cpu, triton
from targets.profile import TargetProfile

REGISTRY: dict[str, TargetProfile] = {
    p.name: p for module in (jetson, openvino_cpu, onnxruntime_cpu, triton) for p in module.PROFILES
}


def get_target(name: str) -> TargetProfile:
    if name not in REGISTRY:
        raise MptEdgeError(f"unknown --target {name!r}; choose one of {', '.join(REGISTRY)} (see `mpt-edge targets`)")
    return REGISTRY[name]
