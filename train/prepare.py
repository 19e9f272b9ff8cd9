"""``mpt-edge prepare``: decode, detect, align and crop every clip's onset/apex pair once, into a cache
that is itself a coded folder (:mod:`train.data.coded_folder`)::

    CACHE/dataset.json                     source data set, classes, face size, detector, alignment counts
    CACHE/annotations.csv                  Subject, Filename, OnsetFrame=1, ApexFrame=2, OffsetFrame=2,
                                           Estimated Emotion, Dataset, Source* (original frame numbers)
    CACHE/<subject>/<clip>/img1.png        aligned onset crop (face_size x face_size, lossless)
    CACHE/<subject>/<clip>/img2.png        aligned apex crop, same transform as the onset
    CACHE/<subject>/<clip>/alignment.json  how the crop was found (landmarks / eyes / box / frame)

A clip whose onset shows no face is never aligned on the whole frame: it stops the run with a line
naming it, or (``--skip-invalid``) is left out and named in ``dataset.json`` (``no_face``). ``train``
refuses a cache where most clips were not aligned on a face (:func:`check_aligned`).

Each clip folder is written to a temp folder and renamed into place, so a killed run resumes where
it stopped (finished clips are skipped) and never leaves half a clip. The table and dataset.json
are written last, atomically: a cache without dataset.json is unfinished.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from mpt_edge import __version__
from mpt_edge.errors import InputError
from mpt_edge.faces.align import ALIGNED_ON_A_FACE, FaceAligner, NoFaceError
from mpt_edge.io import atomic_write_bytes
from train.data.clips import ClipRecord, load_pair

PREPARED = "prepared"


@dataclass(frozen=True)
class PrepareSummary:
    out: Path
    clips: int
    reused: int
    methods: dict[str, int]
    no_face: tuple[str, ...] = ()  # subject/clip of the clips left out: no face on their onset


def _safe(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    if cleaned in ("", ".", ".."):
        raise InputError(f"clip/subject name {name!r} cannot be a folder name")
    return cleaned


def _write_clip(folder: Path, record: ClipRecord, aligner: FaceAligner) -> str:
    onset, apex = load_pair(record)
    onset_crop, apex_crop, alignment = aligner.align_pair(onset, apex)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name, image in (("img1.png", onset_crop), ("img2.png", apex_crop)):
            if not cv2.imwrite(str(tmp / name), image):
                raise InputError(f"cannot write {tmp / name}; check free disk space")
        (tmp / "alignment.json").write_text(json.dumps(alignment.to_dict()))
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return alignment.method


def claim_cache_folder(out: Path, overwrite: bool = False) -> None:
    """``out`` is new, empty, or a prepare cache (finished, or interrupted: clip folders with their
    alignment.json); a folder of someone else's files is refused unless ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is an existing file, not a folder; choose a folder for the cache")
    if not out.is_dir() or not any(out.iterdir()):
        return
    ours = (out / "dataset.json").is_file() or next(out.glob("*/*/alignment.json"), None) is not None
    if not ours and not overwrite:
        first = sorted(p.name for p in out.iterdir())[0]
        raise InputError(
            f"--out {out} holds files mpt-edge prepare did not write ({first}, ...); choose another --out, "
            "or pass --overwrite to write the cache among them"
        )


def prepare_records(
    records: Sequence[ClipRecord],
    out: Path,
    source: str,
    class_names: Sequence[str],
    aligner: FaceAligner,
    root: Path,
    on_clip: Callable[[], None] | None = None,
    skip_invalid: bool = False,
    overwrite: bool = False,
) -> PrepareSummary:
    out = Path(out)
    claim_cache_folder(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / "dataset.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError:
            raise InputError(f"{meta_path} is damaged (not JSON); delete {out} and prepare again") from None
        if (
            meta.get("source") != source
            or meta.get("face_size") != aligner.face_size
            or meta.get("detector") != aligner.detector
        ):
            raise InputError(
                f"{out} holds a cache of {meta.get('source')} at "
                f"{meta.get('face_size')}px/{meta.get('detector')}; use another --out"
            )
    rows: list[Any] = []
    methods: Counter[str] = Counter()
    reused, no_face = 0, []
    for record in records:
        subject, clip = _safe(record.subject), _safe(record.clip)
        folder = out / subject / clip
        folder.parent.mkdir(parents=True, exist_ok=True)
        if (folder / "alignment.json").is_file():
            methods[json.loads((folder / "alignment.json").read_text())["method"]] += 1
            reused += 1
        else:
            try:
                methods[_write_clip(folder, record, aligner)] += 1
            except NoFaceError as error:
                if not skip_invalid:
                    raise InputError(
                        f"clip {subject}/{clip} ({record.frames.get(record.onset, record.source_row)}): {error}; "
                        "pass --face none if the frames are face crops, another --face detector, or "
                        "--skip-invalid to leave such clips out"
                    ) from None
                no_face.append(f"{subject}/{clip}")
                if on_clip:
                    on_clip()
                continue
        rows.append([subject, clip, 1, 2, 2, record.emotion, record.dataset, record.onset, record.apex, record.offset])
        if on_clip:
            on_clip()
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(
        [
            "Subject",
            "Filename",
            "OnsetFrame",
            "ApexFrame",
            "OffsetFrame",
            "Estimated Emotion",
            "Dataset",
            "SourceOnset",
            "SourceApex",
            "SourceOffset",
        ]
    )
    writer.writerows(rows)
    atomic_write_bytes(out / "annotations.csv", table.getvalue().encode())
    meta = {
        "name": PREPARED,
        "source": source,
        "classes": list(class_names),
        "face_size": aligner.face_size,
        "detector": aligner.detector,
        "margin": aligner.margin,
        "alignment_methods": dict(methods),
        "no_face": no_face,
        "root": str(Path(root).resolve()),
        "clips": len(rows),
        "mpt_edge_version": __version__,
    }
    atomic_write_bytes(meta_path, json.dumps(meta, indent=2).encode())
    return PrepareSummary(out, len(rows), reused, dict(methods), tuple(no_face))


def check_aligned(meta: dict, root: Path, allow_unaligned: bool = False) -> None:
    """Refuse a cache where most clips were not aligned on a face (no face found, or the whole frame
    squashed by mpt-edge 0.1.x builds from before landmark alignment's ``centre`` fallback), unless the user says so.
    ``frame`` (``--face
    none``) counts as aligned: the user declared the frames face crops."""
    methods = meta.get("alignment_methods") or {}
    on_face = sum(v for k, v in methods.items() if k in ALIGNED_ON_A_FACE or k == "frame")
    total = sum(methods.values()) + len(meta.get("no_face") or [])
    if allow_unaligned or total == 0 or on_face * 2 > total:
        return
    raise InputError(
        f"{root}: only {on_face} of {total} clips were aligned on a face "
        f"({methods.get('centre', 0)} on the whole frame, "
        f"{len(meta.get('no_face') or [])} without a face); prepare it again with another "
        "--face detector, or pass --allow-unaligned"
    )


def read_prepared_meta(root: Path) -> dict | None:
    """dataset.json of a finished prepared cache, or None if ``root`` is not one."""
    path = Path(root) / "dataset.json"
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except ValueError as error:
        raise InputError(f"{path} is unreadable ({error}); delete it and run `mpt-edge prepare` again") from None
    return meta if isinstance(meta, dict) and meta.get("name") == PREPARED else None
