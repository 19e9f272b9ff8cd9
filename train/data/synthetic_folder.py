"""The synthetic set on disk, in the CASME II-style coded-folder layout (:mod:`train.data.coded_folder`):

    ROOT/dataset.json                       generator settings + class names (how to regenerate it)
    ROOT/annotations.csv                    Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, Estimated Emotion,
    AmplitudePx
    ROOT/sub01/EP01_01/img1.png ... imgT.png

Generated once per settings into a cache folder (atomically: a temp folder renamed into place, so an
interrupted generation leaves nothing half written) and then read back through the same reader as
real data. Frames of the easy preset are lossless PNG; the hard preset stores JPEG, as CASME II and
SAMM do, so the motion has to survive compression.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2

from mpt_edge.errors import InputError
from mpt_edge.io import atomic_write_bytes, default_cache
from train.data.coded_folder import read_coded_folder
from train.data.distractors import ClipStyle
from train.data.records import ReadResult
from train.data.synthetic import CLASSES_3, CLASSES_5, iter_clips
from train.data.synthetic_presets import PRESETS, get_preset

LAYOUT_VERSION = 1


@dataclass(frozen=True)
class SyntheticSpec:
    """Everything that determines the synthetic set; its folder name is derived from it."""

    subjects: int = 16
    clips_per_class: int = 4
    classes: int = 3
    size: int = 224
    seed: int = 0
    preset: str = "easy"  # train.data.synthetic_presets: easy (the demo's) or hard

    def __post_init__(self) -> None:
        problems = []
        if self.preset not in PRESETS:
            problems.append(f"preset={self.preset!r} (choose one of {', '.join(PRESETS)})")
        if self.subjects < 2:
            problems.append(f"subjects={self.subjects} (need >= 2 for held-out subjects)")
        if self.clips_per_class < 1:
            problems.append(f"clips_per_class={self.clips_per_class} (need >= 1)")
        if self.classes not in (3, 5):
            problems.append(f"classes={self.classes} (the synthetic set has 3 or 5)")
        if self.size < 64:
            problems.append(f"size={self.size} (need >= 64)")
        if problems:
            raise InputError("invalid synthetic set: " + "; ".join(problems))

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASSES_3 if self.classes == 3 else CLASSES_5

    @property
    def class_counts(self) -> list[int]:
        """Clips of each class per subject."""
        return get_preset(self.preset).class_counts(self.clips_per_class, self.classes)

    @property
    def style(self) -> ClipStyle:
        return get_preset(self.preset).style

    @property
    def folder_name(self) -> str:
        # easy keeps the name earlier caches have; other presets name their style, so a retuned preset
        # never reuses a cache rendered with other parameters
        if self.preset == "realface":  # raw CASME II-layout frames: the face size is prepare's, not the folder's
            from train.data.realface.clips import GENERATOR_VERSION

            return f"realface-v{GENERATOR_VERSION}-n{self.subjects}x{self.clips_per_class}-seed{self.seed}"
        preset = "" if self.preset == "easy" else f"{self.preset}{style_digest(self.style)}-"
        sizes = f"n{self.subjects}x{self.clips_per_class}-{self.size}px"
        return f"synthetic-v{LAYOUT_VERSION}-{preset}c{self.classes}-{sizes}-seed{self.seed}"


def style_digest(style: ClipStyle) -> str:
    return hashlib.sha1(json.dumps(asdict(style), sort_keys=True).encode()).hexdigest()[:6]


def write_synthetic(root: Path, spec: SyntheticSpec, on_clip: Callable[[], None] | None = None) -> None:
    """Render the set into ``root`` (which must not exist yet) via a temp folder and one rename."""
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        rows: list[Any] = []
        episodes: dict[str, Any] = {}
        style = spec.style
        suffix, params = (
            (".jpg", [cv2.IMWRITE_JPEG_QUALITY, style.jpeg_quality]) if style.jpeg_quality else (".png", [])
        )
        for clip in iter_clips(
            spec.subjects, spec.clips_per_class, spec.classes, spec.size, spec.seed, spec.class_counts, style
        ):
            subject = f"sub{clip.subject[1:]}"
            episodes[subject] = episodes.get(subject, 0) + 1
            name = f"EP{episodes[subject]:02d}_01"
            folder = tmp / subject / name
            folder.mkdir(parents=True)
            for t, frame in enumerate(clip.frames, start=1):
                cv2.imwrite(str(folder / f"img{t}{suffix}"), frame, params)
            emotion = spec.class_names[clip.label]
            rows.append(
                [subject, name, clip.onset + 1, clip.apex + 1, clip.offset + 1, emotion, f"{clip.amplitude_px:.4f}"]
            )
            if on_clip:
                on_clip()
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(
            ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion", "AmplitudePx"]
        )
        writer.writerows(rows)
        (tmp / "annotations.csv").write_text(table.getvalue(), encoding="utf-8")
        # Pixels are deterministic for one OpenCV version (4.14 and 5.0 differ by up to 5 gray levels).
        meta = {
            "name": "synthetic",
            "layout_version": LAYOUT_VERSION,
            "spec": asdict(spec),
            "classes": list(spec.class_names),
            "class_counts_per_subject": spec.class_counts,
            "style": asdict(style),
            "opencv": cv2.__version__,
        }
        atomic_write_bytes(tmp / "dataset.json", json.dumps(meta, indent=2).encode())
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_synthetic_spec(root: Path) -> tuple[SyntheticSpec, dict]:
    meta_path = root / "dataset.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        return SyntheticSpec(**meta["spec"]), meta
    except FileNotFoundError:
        raise InputError(
            f"{meta_path} is missing: {root} is not a synthetic set; delete the folder to regenerate it"
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"{meta_path} is unreadable ({type(error).__name__}: {error}); delete {root} to regenerate it"
        ) from None


def read_synthetic(root: Path, skip_invalid: bool = False) -> tuple[SyntheticSpec, ReadResult]:
    spec, _ = read_synthetic_spec(root)
    return spec, read_coded_folder(root, spec.class_names, "synthetic", skip_invalid=skip_invalid)


def ensure_synthetic(spec: SyntheticSpec, root: Path | None = None, on_clip: Callable[[], None] | None = None) -> Path:
    """The folder holding ``spec``'s set (default: in the user cache), generated first if absent.
    An existing folder holding a *different* synthetic set is an error, never silently reused."""
    root = Path(root) if root else default_cache() / spec.folder_name
    if (root / "dataset.json").is_file():
        stored, _ = read_synthetic_spec(root)
        if stored != spec:
            raise InputError(
                f"{root} holds a different synthetic set ({stored.folder_name}, asked for {spec.folder_name}); "
                "pass the same generator options or another --root"
            )
        return root
    if root.exists() and any(root.iterdir()):
        raise InputError(f"{root} exists and is not a synthetic set (no dataset.json); choose an empty or new --root")
    if root.exists():
        root.rmdir()
    write_synthetic(root, spec, on_clip)
    return root
