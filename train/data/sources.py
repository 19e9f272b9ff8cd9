"""``--dataset NAME --root PATH`` -> clip records + class names: the registry of data set readers.

Real data sets are read in their distributed layout, then aligned and cropped once into a prepared
cache (:mod:`train.prepare`), and training reads that cache through the coded-folder reader. A
``--root`` that already *is* a prepared cache (``mpt-edge prepare`` output) is read directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from mpt_edge.errors import InputError, MptEdgeError
from train.data.casme2 import CLASSES_5 as CASME2_CLASSES
from train.data.casme2 import read_casme2
from train.data.casme3 import CLASSES_3 as CASME3_CLASSES
from train.data.casme3 import read_casme3
from train.data.clips import ClipRecord
from train.data.coded_folder import read_coded_folder
from train.data.megc2019 import CLASSES_3 as MEGC_CLASSES
from train.data.megc2019 import read_megc2019
from train.data.records import ReadResult
from train.data.samm import CLASSES_5 as SAMM_CLASSES
from train.data.samm import read_samm
from train.data.smic import CLASSES_3 as SMIC_CLASSES
from train.data.smic import read_smic
from train.data.synthetic_folder import (
    SyntheticSpec,
    default_cache,
    ensure_synthetic,
    read_synthetic,
    read_synthetic_spec,
)

READERS: dict[str, tuple[Callable[[Path, bool], ReadResult], tuple[str, ...]]] = {
    "casme2": (read_casme2, CASME2_CLASSES),
    "samm": (read_samm, SAMM_CLASSES),
    "smic": (read_smic, SMIC_CLASSES),
    "casme3": (read_casme3, CASME3_CLASSES),
    "megc2019": (read_megc2019, MEGC_CLASSES),
}
DATASETS = ("synthetic", *READERS)


@dataclass(frozen=True)
class DataSource:
    name: str
    root: Path
    records: list[ClipRecord]
    class_names: list[str]
    skipped: list[str]
    notes: list[str]
    identity: dict[str, object]  # what a resumed run must find again


def read_raw(name: str, root: Path, skip_invalid: bool = False) -> tuple[ReadResult, tuple[str, ...]]:
    """Records of a licensed data set in its distributed layout."""
    if name not in READERS:
        raise MptEdgeError(f"unknown --dataset {name!r}; available: {', '.join(DATASETS)}")
    if not Path(root).is_dir():
        raise InputError(f"--root {root} is not a folder; point it at the {name} data set as distributed")
    reader, classes = READERS[name]
    return reader(Path(root), skip_invalid), classes


def prepared_cache_for(name: str, root: Path, face_size: int, detector: str) -> Path:
    digest = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:10]
    return default_cache() / "prepared" / f"{name}-{digest}-{face_size}px-{detector}"


def open_dataset(
    name: str,
    root: Path | None,
    synthetic: SyntheticSpec | None = SyntheticSpec(),
    skip_invalid: bool = False,
    on_generated_clip: Callable[[], None] | None = None,
    face_size: int = 224,
    detector: str = "auto",
    progress: Callable[[str, int], Callable[[], None]] | None = None,
    trained_detector: str | None = None,
    require_faces: bool = False,
    log: Callable[[str], None] | None = None,
) -> DataSource:
    """Read (generating or preparing first when needed) the clips of a data set. ``synthetic=None``
    reads the synthetic set found at ``root`` whatever its settings. Raw clips are aligned with
    ``detector`` (``auto``: ``trained_detector``, the one the model was trained with, else the best
    installed); ``require_faces`` (train): refuse a cache mostly not aligned on faces."""
    if name not in DATASETS:
        raise MptEdgeError(f"unknown --dataset {name!r}; available: {', '.join(DATASETS)}")
    if name == "synthetic" and synthetic is not None and synthetic.preset == "realface":
        return _open_realface(
            synthetic,
            root,
            skip_invalid,
            on_generated_clip,
            face_size,
            detector,
            progress,
            trained_detector,
            require_faces,
            log,
        )
    if name == "synthetic":
        if synthetic is None:  # whatever set is at --root (calibration of an existing run), else the default one
            synthetic = (
                read_synthetic_spec(Path(root))[0]
                if root and (Path(root) / "dataset.json").is_file()
                else SyntheticSpec()
            )
        root = ensure_synthetic(synthetic, root, on_generated_clip)
        spec, result = read_synthetic(root, skip_invalid)
        identity = {
            "dataset": name,
            "synthetic": asdict(spec),
            "style": asdict(spec.style),
            "clips": len(result.records),
        }
        return DataSource(name, root, result.records, list(spec.class_names), result.skipped, result.notes, identity)
    if root is None:
        raise MptEdgeError(
            f"--dataset {name} needs --root PATH: the data set folder as distributed (or a `mpt-edge prepare` cache)"
        )
    from train.prepare import check_aligned, prepare_records, read_prepared_meta

    meta = read_prepared_meta(Path(root))
    skipped, notes = [], []
    if meta is None:
        raw, classes = read_raw(name, Path(root), skip_invalid)
        skipped, notes = raw.skipped, raw.notes
        from mpt_edge.faces import resolve_detector
        from mpt_edge.faces.align import FaceAligner

        detector = resolve_detector(detector, trained_detector, log)
        cache = prepared_cache_for(name, Path(root), face_size, detector)
        tick = progress(f"aligning {name} faces ({detector})", len(raw.records)) if progress else None
        prepared = prepare_records(
            raw.records, cache, name, classes, FaceAligner(face_size, detector), Path(root), tick, skip_invalid
        )
        skipped = skipped + [f"{clip}: no face found by {detector} on its onset frame" for clip in prepared.no_face]
        meta = read_prepared_meta(cache)
        root = cache
    elif meta.get("source") != name:
        raise MptEdgeError(
            f"{root} is a prepared cache of {meta.get('source')}, not {name}; pass --dataset {meta.get('source')}"
        )
    assert meta is not None
    if meta.get("no_face") and not skipped:
        notes = notes + [
            (
                f"{len(meta['no_face'])} clip(s) of {root} were left out by prepare: no face on "
                "the onset frame "
                f"({meta['no_face'][0]}{' ...' if len(meta['no_face']) > 1 else ''})"
            )
        ]
    if require_faces:
        check_aligned(meta, Path(root))
    if meta.get("face_size") != face_size:
        raise MptEdgeError(
            f"{root} holds {meta.get('face_size')}px faces but the model needs {face_size}px; "
            f"run `mpt-edge prepare` with --face-size {face_size}"
        )
    result = read_coded_folder(Path(root), meta["classes"], name, skip_invalid=skip_invalid)
    identity = {
        "dataset": name,
        "prepared": str(Path(root).resolve()),
        "clips": len(result.records),
        "detector": meta.get("detector"),
    }
    return DataSource(
        name,
        Path(root),
        result.records,
        list(meta["classes"]),
        skipped + result.skipped,
        notes + result.notes,
        identity,
    )


def _open_realface(
    spec: SyntheticSpec,
    root: Path | None,
    skip_invalid: bool,
    on_generated_clip: Callable[[], None] | None,
    face_size: int,
    detector: str,
    progress: Callable[[str, int], Callable[[], None]] | None,
    trained_detector: str | None,
    require_faces: bool,
    log: Callable[[str], None] | None,
) -> DataSource:
    """The real-face preset: generated in the CASME II layout, then read, aligned and cached exactly as
    CASME II is (prepare, with the detector asked for); 3 classes are the MEGC 2019 composite's labels."""
    from dataclasses import replace

    from train.data.realface.classes import MEGC_CLASSES, TO_MEGC
    from train.data.realface.clips import GENERATOR_VERSION, ensure_realface

    raw = ensure_realface(spec, root, on_generated_clip)
    source = open_dataset(
        "casme2", raw, None, skip_invalid, None, face_size, detector, progress, trained_detector, require_faces, log
    )
    records, classes = list(source.records), list(source.class_names)
    if spec.classes == 3:
        mapped = [(r, TO_MEGC[r.emotion]) for r in records]
        records = [replace(r, label=MEGC_CLASSES.index(name), emotion=name) for r, name in mapped if name is not None]
        classes = list(MEGC_CLASSES)
    identity = {
        "dataset": "synthetic",
        "synthetic": asdict(spec),
        "realface": GENERATOR_VERSION,
        "prepared": source.identity.get("prepared"),
        "detector": source.identity.get("detector"),
        "clips": len(records),
    }
    return DataSource("synthetic", source.root, records, classes, source.skipped, source.notes, identity)
