"""``--dataset NAME --root PATH`` -> clip records + class names: the registry of data set readers.

Only the built-in synthetic set is registered so far; the licensed sets (CASME II, SAMM, SMIC,
CAS(ME)^3, MEGC2019) plug in here with their readers (issue #4).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

from mpt_edge.errors import MptEdgeError
from train.data.clips import ClipRecord
from train.data.synthetic_folder import SyntheticSpec, ensure_synthetic, read_synthetic

DATASETS = ("synthetic",)


@dataclass(frozen=True)
class DataSource:
    name: str
    root: Path
    records: list[ClipRecord]
    class_names: list[str]
    skipped: list[str]
    identity: dict[str, object]  # what a resumed run must find again


def open_dataset(
    name: str, root: Optional[Path], synthetic: SyntheticSpec = SyntheticSpec(), skip_invalid: bool = False,
    on_generated_clip: Optional[Callable[[], None]] = None,
) -> DataSource:
    """Read (and for the synthetic set, first generate if needed) the clips of a data set."""
    if name not in DATASETS:
        raise MptEdgeError(f"unknown --dataset {name!r}; available: {', '.join(DATASETS)} (the licensed sets arrive with issue #4)")
    root = ensure_synthetic(synthetic, root, on_generated_clip)
    spec, result = read_synthetic(root, skip_invalid)
    identity = {"dataset": name, "synthetic": asdict(spec), "clips": len(result.records)}
    return DataSource(name, Path(root), result.records, list(spec.class_names), result.skipped, identity)
