"""A target profile is data: what to build, in which precision, with which backend options."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib.util import find_spec
from typing import Any

from mpt_edge.backends import Backend


@dataclass(frozen=True)
class TargetProfile:
    name: str
    family: str  # module in targets/ that builds it
    backend: Backend  # the engine the runtime uses (mpt_edge.backends)
    precision: str  # int8 | fp16 | fp32
    description: str
    needs: tuple[str, ...]  # Python modules the *build* needs on this machine
    calibration: str | None = None  # calibrate backend whose INT8 model the target consumes
    options: dict[str, Any] = field(default_factory=dict)  # backend options, written to the manifest

    def __post_init__(self) -> None:
        object.__setattr__(self, "backend", Backend(self.backend))  # profiles may name it as a string

    def missing(self) -> list[str]:
        return [module for module in self.needs if find_spec(module) is None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
