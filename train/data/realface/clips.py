"""The real-face clip set, written as CASME II distributes it and read back through the same reader.

    ROOT/CASME2_RAW_selected/sub01/EP01_01/img31.jpg ...   640x480 JPEG frames, onset to offset
    ROOT/CASME2-coding-realface.xlsx                      Subject | Filename | | OnsetFrame | ApexFrame |
                                                          OffsetFrame | | Action Units | Estimated Emotion
    ROOT/realface.json                                    how it was made: spec, identities (subject -> person,
                                                          photograph, package), every clip's AUs, amplitude, moves

A clip, at 100 frames/s: onset (neutral) -> apex in 0.08-0.20 s -> offset in 0.10-0.25 s (a micro-expression
lasts 1/25-1/2 s), the AU set of its class at 0.5-3 px (99th percentile of the apex field over the face);
a head move between onset and apex (up to 1.5 px and 0.5 degrees); a blink (AU43) in a quarter of the clips,
at any time; lighting flicker, sensor noise and JPEG on every frame. One subject is one person.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from mpt_edge.errors import InputError
from mpt_edge.io import atomic_write_bytes
from train.data.realface.au_model import AuMeshModel, load_au_model
from train.data.realface.classes import AU_SETS, CASME2_CLASSES, au_code
from train.data.realface.folders import holds_set, staged_folder
from train.data.realface.identities import Identity, find_identities
from train.data.realface.render import FrameRenderer, Nuisance, au_field, bump, normalised, place, rigid_field

FPS = 100
SHEET = "CASME2-coding-realface.xlsx"
FRAMES_FOLDER = "CASME2_RAW_selected"
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class ClipPlan:
    subject: int
    identity: str
    name: str  # EP01_01
    emotion: str
    aus: tuple[str, ...]
    intensities: tuple[float, ...]
    amplitude_px: float
    frames: int
    first_frame: int  # the number of the onset frame's file (img<first>.jpg), as CASME II numbers them
    apex: int  # offset from the onset, frames
    head_shift_px: tuple[float, float]
    head_rotation_deg: float
    blink_at: int | None  # frame of the blink's peak, or None


def plan_clip(rng: np.random.Generator, subject: int, identity: str, name: str, emotion: str) -> ClipPlan:
    aus = AU_SETS[emotion][rng.integers(len(AU_SETS[emotion]))]
    rise, fall = int(round(rng.uniform(0.08, 0.20) * FPS)), int(round(rng.uniform(0.10, 0.25) * FPS))
    frames = rise + fall + 1
    angle = rng.uniform(-0.5, 0.5)
    shift = rng.normal(0, 1, 2)
    shift = shift / max(float(np.linalg.norm(shift)), 1e-9) * rng.uniform(0, 1.5)
    blink = int(rng.integers(frames)) if rng.random() < 0.25 else None
    return ClipPlan(
        subject,
        identity,
        name,
        emotion,
        tuple(aus),
        tuple(float(v) for v in rng.uniform(0.6, 1.0, len(aus))),
        float(np.exp(rng.uniform(np.log(0.5), np.log(3.0)))),
        frames,
        int(rng.integers(20, 200)),
        rise,
        (float(shift[0]), float(shift[1])),
        float(angle),
        blink,
    )


def clip_frames(
    plan: ClipPlan, identity: Identity, model: AuMeshModel, rng: np.random.Generator, nuisance: Nuisance = Nuisance()
):
    """The clip's frames (an iterator) and its apex AU field (frame pixels), for tests and pictures."""
    scene = place(identity, model, rng)
    expression = normalised(
        au_field(scene, model, dict(zip(plan.aus, plan.intensities))), scene.face_mask, plan.amplitude_px
    )
    profile = bump(plan.frames, 0, plan.apex, plan.frames - 1)
    fields = [(expression, profile)]
    head = rigid_field(scene.base.shape[:2], scene.centre, np.array(plan.head_shift_px), plan.head_rotation_deg)
    fields.append((head, np.linspace(0, 1, plan.frames) if plan.frames > 1 else np.ones(1)))
    if plan.blink_at is not None:
        lids = normalised(au_field(scene, model, {"AU43": 1.0}), scene.face_mask, rng.uniform(2.0, 4.0))
        half = max(2, int(0.06 * FPS))
        fields.append((lids, bump(plan.frames, plan.blink_at - half, plan.blink_at, plan.blink_at + half)))
    from train.data.realface.render import frames_of

    return frames_of(FrameRenderer(scene, nuisance, rng), fields, plan.frames), expression, scene


def class_counts(classes: int, clips_per_class: int) -> list[int]:
    from train.data.synthetic_presets import CASME2_WEIGHTS

    total = clips_per_class * 5
    return [max(1, round(w * total / sum(CASME2_WEIGHTS))) for w in CASME2_WEIGHTS]


def write_clip_set(
    root: Path, subjects: int, clips_per_class: int, seed: int, on_clip: Callable[[], None] | None = None
) -> dict:
    """Render the set into ``root`` (new) via a temp folder renamed into place; returns realface.json."""
    found = find_identities()
    if subjects > len(found.identities):
        raise InputError(
            f"the real-face preset has {len(found.identities)} identities (people on the registry photographs); "
            f"--synthetic-subjects {subjects} is more"
        )
    model = load_au_model()
    rng = np.random.default_rng([seed, 31])
    people = [found.identities[k] for k in sorted(rng.permutation(len(found.identities))[:subjects])]
    counts = class_counts(5, clips_per_class)
    with staged_folder(root) as tmp:
        plans, rows = [], []
        for number, person in enumerate(people, start=1):
            emotions = [e for e, n in zip(CASME2_CLASSES, counts) for _ in range(n)]
            for k, emotion in enumerate(rng.permutation(emotions), start=1):
                plan = plan_clip(rng, number, person.name, f"EP{k:02d}_01", str(emotion))
                frames, _, _ = clip_frames(plan, person, model, rng)
                folder = tmp / FRAMES_FOLDER / f"sub{number:02d}" / plan.name
                folder.mkdir(parents=True)
                for t, frame in enumerate(frames):
                    if not cv2.imwrite(
                        str(folder / f"img{plan.first_frame + t}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95]
                    ):
                        raise OSError(f"cannot write frames into {folder}")
                onset, apex, offset = plan.first_frame, plan.first_frame + plan.apex, plan.first_frame + plan.frames - 1
                rows.append([number, plan.name, None, onset, apex, offset, None, au_code(plan.aus), plan.emotion])
                plans.append(asdict(plan))
                if on_clip:
                    on_clip()
        _write_sheet(tmp / SHEET, rows)
        meta = {
            "name": "realface",
            "generator_version": GENERATOR_VERSION,
            "subjects": subjects,
            "clips_per_class": clips_per_class,
            "seed": seed,
            "fps": FPS,
            "frame_size": [640, 480],
            "class_counts_per_subject": dict(zip(CASME2_CLASSES, counts)),
            "identities": {
                f"sub{k:02d}": {"person": p.name, "photograph": p.source} for k, p in enumerate(people, start=1)
            },
            "skipped_faces": list(found.skipped),
            "clips": plans,
            "opencv": cv2.__version__,
        }
        atomic_write_bytes(tmp / "realface.json", (json.dumps(meta, indent=2) + "\n").encode())
    return meta


def _write_sheet(path: Path, rows: list[list[object]]) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(
        [
            "Subject",
            "Filename",
            None,
            "OnsetFrame",
            "ApexFrame",
            "OffsetFrame",
            None,
            "Action Units",
            "Estimated Emotion",
        ]
    )
    for row in rows:
        sheet.append(row)
    book.save(path)


def ensure_realface(spec, root: Path | None = None, on_clip: Callable[[], None] | None = None) -> Path:
    """The folder holding the real-face set of ``spec`` (a :class:`~train.data.synthetic_folder.SyntheticSpec`;
    default: in the data cache), rendered first if absent. A folder holding another set is an error."""
    from mpt_edge.io import default_cache

    root = Path(root) if root else default_cache() / spec.folder_name
    wanted = {
        "subjects": spec.subjects,
        "clips_per_class": spec.clips_per_class,
        "seed": spec.seed,
        "generator_version": GENERATOR_VERSION,
    }
    if not holds_set(root, "realface.json", wanted):
        write_clip_set(root, spec.subjects, spec.clips_per_class, spec.seed, on_clip)
    return root
