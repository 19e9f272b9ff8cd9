"""How the train stage opens its data for a command: the device to train on, a data set opened with
progress bars and what was read reported, and the synthetic set a run, a checkpoint or an exported
model was trained on (so eval, calibrate and build default to it)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mpt_edge.errors import MptEdgeError
from train.data.sources import DataSource, open_dataset
from train.data.synthetic_folder import SyntheticSpec
from train.options import DataSpec
from train.progress import counter


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise MptEdgeError("--device cuda: no CUDA device is visible to torch here; use --device cpu (or auto)")
    if name not in ("cpu", "cuda"):
        raise MptEdgeError(f"--device {name!r}: choose auto, cpu or cuda")
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(name)


def open_with_progress(
    bars: Any | None,
    dataset: str,
    root: Path | None,
    synthetic: SyntheticSpec | None,
    skip_invalid: bool,
    face_size: int,
    face_detector: str,
    log: Callable[..., None],
    trained_detector: str | None = None,
    require_faces: bool = False,
) -> DataSource:
    """open_dataset with progress bars for generating / aligning, then what was read reported."""
    shown = synthetic or SyntheticSpec()  # None: whatever set is at --root; its size is only for the bar
    tick = (
        counter(bars, "generating synthetic set", shown.subjects * shown.clips_per_class * shown.classes)
        if dataset == "synthetic"
        else None
    )
    source = open_dataset(
        dataset,
        root,
        synthetic,
        skip_invalid,
        tick,
        face_size,
        face_detector,
        progress=lambda what, total: counter(bars, what, total),
        trained_detector=trained_detector,
        require_faces=require_faces,
        log=log,
    )
    report_source(source, log)
    return source


def report_source(source: DataSource, log: Callable[..., None]) -> None:
    """What was read, skipped and deliberately left out: never silent."""
    for note in source.notes:
        log(f"note: {note}")
    if source.skipped:
        log(
            f"[yellow]skipped {len(source.skipped)} invalid clip(s) (--skip-invalid): "
            f"{source.skipped[0]}{' ...' if len(source.skipped) > 1 else ''}"
        )
    log(f"data: {len(source.records)} clips of {len({r.subject for r in source.records})} subjects from {source.root}")


def synthetic_of_data(data: Any) -> SyntheticSpec | None:
    """The synthetic set a data identity (``train.data.sources``) names, or None for real data or a
    record this version cannot read."""
    try:
        return SyntheticSpec(**data["synthetic"]) if data.get("dataset") == "synthetic" else None
    except (AttributeError, KeyError, TypeError, MptEdgeError):
        return None


def synthetic_of_run(model_path: Path) -> SyntheticSpec | None:
    """The synthetic set a run folder was trained on (from its run.json), or None."""
    try:
        return synthetic_of_data(json.loads((Path(model_path) / "run.json").read_text())["identity"]["data"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def synthetic_of_model(meta: dict[str, Any]) -> SyntheticSpec | None:
    """The synthetic set an exported model was trained on (its ONNX metadata's ``training_data``), or
    None: calibrating on the same set is the only sensible default when the user names no other."""
    return synthetic_of_data(meta.get("training_data"))


def open_for_model(progress: Any | None, data: DataSpec, meta: dict[str, Any], log: Callable[..., None]) -> DataSource:
    """The clips an exported model (its ONNX metadata ``meta``) is calibrated and validated on: ``data``,
    by default the synthetic set the model was trained on, aligned with the detector its faces were."""
    synthetic = data.synthetic
    if synthetic is None and data.dataset == "synthetic" and data.root is None:
        synthetic = synthetic_of_model(meta)
    return open_with_progress(
        progress,
        data.dataset,
        data.root,
        synthetic,
        data.skip_invalid,
        int(meta["motion_config"]["face_size"]),
        data.face_detector,
        log,
        trained_detector=(meta.get("training_data") or {}).get("detector"),
    )
