"""The build stage as Python calls: ``build`` (a checkpoint or ONNX model -> a deployable bundle),
``list_targets`` (what each target needs and whether it builds here) and ``demo`` (the whole chain).
Results are frozen dataclasses; nothing prints (messages go to ``log``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calibrate.sampling import DEFAULT_SIZE
from mpt_edge.backends import Backend
from mpt_edge.progress import Log, quiet
from train.options import DataSpec

if TYPE_CHECKING:
    from targets.profile import TargetProfile


@dataclass(frozen=True)
class BundleInfo:
    """A bundle written by :func:`build`: where, for which target, its files and the INT8 validation."""

    path: Path
    target: str
    backend: str
    precision: str
    files: tuple[str, ...]
    validation: Mapping[str, Any]
    tar: Path | None

    def as_dict(self) -> dict[str, Any]:
        """The JSON ``mpt-edge build --json`` prints."""
        return {
            "bundle": str(self.path),
            "target": self.target,
            "backend": self.backend,
            "precision": self.precision,
            "files": list(self.files),
            "validation": dict(self.validation),
            "tar": str(self.tar) if self.tar else None,
        }


@dataclass(frozen=True)
class TargetInfo:
    """One build target: its engine and precision, what the build needs, and whether it builds here."""

    name: str
    backend: str
    precision: str
    needs: tuple[str, ...]
    builds_here: str
    description: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "backend": self.backend,
            "precision": self.precision,
            "needs": list(self.needs),
            "builds_here": self.builds_here,
            "description": self.description,
        }


def build(
    source: Path,
    target: str,
    out: Path,
    data: DataSpec = DataSpec(),
    *,
    calibration_size: int = DEFAULT_SIZE,
    work: Path | None = None,
    tar: bool = False,
    overwrite: bool = False,
    log: Log = quiet,
) -> BundleInfo:
    """Export (a ``.pt``), calibrate (INT8 targets, on ``data``: by default the synthetic set the model was
    trained on) and build a bundle for ``target`` into ``out``; intermediate results are kept in ``work``
    (default: beside ``out``) and reused only when their inputs' hashes match."""
    from calibrate.sampling import check_size
    from targets import get_target
    from targets.build import build_bundle

    profile = get_target(target)
    check_size(calibration_size, "--calibration-size")
    work = work or out.parent / f".{out.name}.work"
    bundle = build_bundle(
        source,
        profile,
        out,
        work,
        _calibration_pairs(data, log),
        calibration_size,
        tar,
        log,
        _data_key(data),
        overwrite,
    )
    return BundleInfo(
        path=out,
        target=target,
        backend=bundle.backend,
        precision=bundle.precision,
        files=tuple(sorted(bundle.files)),
        validation=dict(bundle.manifest.validation),
        tar=out.with_suffix(".tar") if tar else None,
    )


def _data_key(data: DataSpec) -> dict[str, Any]:
    """What names the calibration data in the INT8 cache's key."""
    key: dict[str, Any] = {
        "dataset": data.dataset,
        "root": str(data.root.resolve()) if data.root else None,
        "face": data.face_detector,
    }
    if data.synthetic is not None:
        key["synthetic"] = asdict(data.synthetic)
    return key


def _calibration_pairs(data: DataSpec, log: Log) -> Callable[[dict[str, Any]], Any]:
    """The calibration clips for the exported model whose ONNX metadata ``meta`` is."""

    def load(meta: dict[str, Any]) -> Any:
        from train.data.pairs import load_pairs
        from train.session import open_for_model

        source = open_for_model(None, data, meta, log)
        return load_pairs(source.records, int(meta["motion_config"]["face_size"]))

    return load


def list_targets() -> list[TargetInfo]:
    """Every build target, what it needs installed and whether it can be built on this machine."""
    import shutil
    from importlib.util import find_spec

    from targets import REGISTRY

    gpu_here = find_spec("tensorrt") is not None and shutil.which("nvidia-smi") is not None
    return [
        TargetInfo(p.name, p.backend, p.precision, tuple(p.needs), _builds_here(p, gpu_here), p.description)
        for p in REGISTRY.values()
    ]


def _builds_here(profile: TargetProfile, gpu_here: bool) -> str:
    missing = profile.missing()
    if missing:
        return f"no: pip install {', '.join(missing)}"
    if profile.backend == Backend.TENSORRT:
        return (
            "bundle yes; engine built here too"
            if gpu_here
            else "bundle yes (Q/DQ ONNX + build scripts); engine on the device"
        )
    return "yes"


__all__ = ["BundleInfo", "TargetInfo", "build", "list_targets"]
