"""Long videos of the real-face people, for spotting: minutes of a person at rest, with micro- and
macro-expressions, blinks, talking, head moves and light changes, annotated as CAS(ME)^2 is.

    ROOT/rawpic/s15/15_0101realface/img1.jpg ...      640x480 JPEG frames at 30 frames/s
    ROOT/CAS(ME)^2code_final.xlsx                     sheet 1 (no header): subject number | video_k | onset |
                                                      apex | offset | AUs | emotion | macro-expression or
                                                      micro-expression; sheet 2: name | folder code | number;
                                                      sheet 3: video code | video name
    ROOT/realface_long.json                           how it was made (people, every event and nuisance)

What happens, at random times (the seed fixes them): micro-expressions (0.2-0.5 s, 1-3 px at the apex, an
AU set of a CASME II class), macro-expressions (0.8-3.5 s with a plateau, 3-8 px), blinks (AU43, ~0.25 s,
every 2-8 s), talking (lips parting and jaw, AU25+AU26 at 3-5 Hz for 2-4 s), slow head drift (a few px
and a degree over tens of seconds) and quick head moves (4-10 px in half a second), slow light changes.
Only expressions are annotated: blinks, talking and head moves are what a spotter must *not* report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
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

FPS = 30
SHEET = "CAS(ME)^2code_final.xlsx"
FRAMES_FOLDER = "rawpic"
VERSION = 1
FIRST_CODE = 15  # CAS(ME)^2's participants are s15 .. s40


@dataclass(frozen=True)
class Expression:
    kind: str  # "ME" or "MaE"
    onset: int  # frame index (0-based) of the last neutral frame
    apex: int
    offset: int  # first frame back at neutral
    emotion: str
    aus: tuple[str, ...]
    amplitude_px: float


@dataclass(frozen=True)
class LongVideoPlan:
    subject: int
    code: int
    identity: str
    frames: int
    expressions: tuple[Expression, ...]
    blinks: tuple[int, ...]  # frame of each blink's peak
    talking: tuple[tuple[int, int, float], ...]  # (start, end, Hz)
    head_keys: tuple[tuple[int, float, float, float], ...] = field(default=())  # (frame, dx, dy, degrees)
    light_keys: tuple[tuple[int, float], ...] = field(default=())  # (frame, gain)


def _free(busy: list[tuple[int, int]], start: int, end: int, margin: int) -> bool:
    return all(end + margin < a or start - margin > b for a, b in busy)


def plan_video(rng: np.random.Generator, subject: int, identity: str, seconds: float) -> LongVideoPlan:
    frames = int(round(seconds * FPS))
    expressions, busy = [], []
    t = int(rng.uniform(1.5, 3.0) * FPS)
    while True:
        kind = "ME" if rng.random() < 0.6 else "MaE"
        if kind == "ME":
            length = int(round(rng.uniform(0.2, 0.5) * FPS))
            apex = int(round(length * rng.uniform(0.35, 0.55)))
            amplitude = float(rng.uniform(1.0, 3.0))
        else:
            length = int(round(rng.uniform(0.8, 3.5) * FPS))
            apex = int(round(rng.uniform(0.25, 0.4) * FPS))
            amplitude = float(rng.uniform(3.0, 8.0))
        if t + length >= frames - FPS:
            break
        emotion = str(rng.choice(CASME2_CLASSES))
        aus = AU_SETS[emotion][rng.integers(len(AU_SETS[emotion]))]
        expressions.append(Expression(kind, t, t + apex, t + length, emotion, tuple(aus), amplitude))
        busy.append((t, t + length))
        t += length + int(rng.uniform(3.0, 9.0) * FPS)
    talking = []
    for _ in range(max(1, int(seconds // 40))):
        length = int(rng.uniform(2.0, 4.0) * FPS)
        for _attempt in range(50):
            start = int(rng.integers(FPS, max(FPS + 1, frames - length - FPS)))
            if _free(busy, start, start + length, FPS // 2):
                talking.append((start, start + length, float(rng.uniform(3.0, 5.0))))
                busy.append((start, start + length))
                break
    blinks, t = [], int(rng.uniform(1.0, 3.0) * FPS)
    expression_spans = [(e.onset, e.offset) for e in expressions]
    while t < frames - FPS // 2:
        if _free(expression_spans, t - 4, t + 4, FPS // 5):
            blinks.append(t)
        t += int(rng.uniform(2.0, 8.0) * FPS)
    head = [(0, 0.0, 0.0, 0.0)]
    for key in range(5 * FPS, frames, 5 * FPS):  # slow drift: a new target every 5 s
        head.append((key, float(rng.uniform(-3, 3)), float(rng.uniform(-2, 2)), float(rng.uniform(-1, 1))))
    moves = []
    for _ in range(max(1, int(seconds // 30))):  # quick moves, away from expressions
        for _attempt in range(50):
            start = int(rng.integers(2 * FPS, frames - 2 * FPS))
            if _free(busy, start, start + FPS // 2, FPS // 2):
                moves.append(start)
                busy.append((start, start + FPS // 2))
                break
    keys = sorted(head)
    for start in moves:
        before = _interpolate_head(keys, start)
        shift = rng.normal(0, 1, 2)
        shift = shift / np.linalg.norm(shift) * rng.uniform(4, 10)
        keys = sorted(
            [k for k in keys if not start <= k[0] <= start + FPS // 2]
            + [
                (start, *before),
                (start + FPS // 2, before[0] + float(shift[0]), before[1] + float(shift[1]), before[2]),
            ]
        )
    light = [(key, float(rng.uniform(0.96, 1.04))) for key in range(0, frames + 8 * FPS, 8 * FPS)]
    return LongVideoPlan(
        subject,
        FIRST_CODE + subject - 1,
        identity,
        frames,
        tuple(expressions),
        tuple(blinks),
        tuple(talking),
        tuple(keys),
        tuple(light),
    )


def _interpolate_head(keys: list[tuple[int, float, float, float]], frame: int) -> tuple[float, float, float]:
    frames = [k[0] for k in keys]
    return tuple(float(np.interp(frame, frames, [k[i] for k in keys])) for i in (1, 2, 3))  # type: ignore[return-value]


def render_video(
    plan: LongVideoPlan,
    identity: Identity,
    model: AuMeshModel,
    rng: np.random.Generator,
    folder: Path,
    on_frame: Callable[[], None] | None = None,
    quality: int = 90,
) -> None:
    """Write the video's frames (img1.jpg ...) into ``folder``."""
    scene = place(identity, model, rng, face_width=rng.uniform(190, 230))
    renderer = FrameRenderer(scene, Nuisance(noise=2.0, flicker=0.004, jpeg_quality=0), rng)
    fields = []
    for e in plan.expressions:
        intensities = {au: float(rng.uniform(0.6, 1.0)) for au in e.aus}
        expression = normalised(au_field(scene, model, intensities), scene.face_mask, e.amplitude_px)
        if e.kind == "ME":
            profile = bump(plan.frames, e.onset, e.apex, e.offset)
        else:  # rise, hold, relax
            t = np.arange(plan.frames)
            hold_end = e.offset - int(0.5 * FPS)
            rise = bump(plan.frames, e.onset, e.apex, e.apex + 10**6)
            fall = bump(plan.frames, hold_end - 10**6, hold_end, e.offset)
            profile = np.where(t <= e.apex, rise, np.where(t <= hold_end, 1.0, fall))
        fields.append((expression, profile))
    lids = normalised(au_field(scene, model, {"AU43": 1.0}), scene.face_mask, 4.0)
    blink = np.zeros(plan.frames)
    for peak in plan.blinks:
        blink = np.maximum(blink, bump(plan.frames, peak - 4, peak, peak + 4))
    fields.append((lids, blink))
    jaw = normalised(au_field(scene, model, {"AU25": 1.0, "AU26": 1.0}), scene.face_mask, 2.0)
    talk = np.zeros(plan.frames)
    seconds = np.arange(plan.frames) / FPS
    for start, end, hertz in plan.talking:
        inside = (np.arange(plan.frames) >= start) & (np.arange(plan.frames) <= end)
        talk = np.where(inside, 0.5 - 0.5 * np.cos(2 * np.pi * hertz * (seconds - start / FPS)), talk)
    fields.append((jaw, talk))
    keys = list(plan.head_keys)
    light_frames = [k[0] for k in plan.light_keys]
    light_gains = [k[1] for k in plan.light_keys]
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(plan.frames):
        total = None
        for field_, profile in fields:
            if profile[index] > 1e-4:
                part = field_ * np.float32(profile[index])
                total = part if total is None else total + part
        dx, dy, angle = _interpolate_head(keys, index)
        head = rigid_field(scene.base.shape[:2], scene.centre, np.array([dx, dy]), angle)
        total = head if total is None else total + head
        renderer.gain = float(np.interp(index, light_frames, light_gains))
        frame = renderer.render(total)
        if not cv2.imwrite(str(folder / f"img{index + 1}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise OSError(f"cannot write frames into {folder}")
        if on_frame:
            on_frame()


def video_folder(plan: LongVideoPlan) -> str:
    return f"s{plan.code}/{plan.code}_{plan.subject:02d}01realface"


def write_long_videos(
    root: Path, subjects: int, seconds: float, seed: int, on_frame: Callable[[], None] | None = None
) -> dict:
    """Render ``subjects`` people's videos into ``root`` (new) via a temp folder renamed into place."""
    found = find_identities()
    if subjects > len(found.identities):
        raise InputError(f"the real-face preset has {len(found.identities)} identities; {subjects} long videos asked")
    model = load_au_model()
    rng = np.random.default_rng([seed, 34])
    people = [found.identities[k] for k in sorted(rng.permutation(len(found.identities))[:subjects])]
    with staged_folder(root) as tmp:
        plans = []
        for number, person in enumerate(people, start=1):
            plan = plan_video(rng, number, person.name, seconds)
            render_video(plan, person, model, rng, tmp / FRAMES_FOLDER / video_folder(plan), on_frame)
            plans.append(plan)
        write_sheet(tmp / SHEET, plans)
        meta = {
            "name": "realface-long",
            "version": VERSION,
            "subjects": subjects,
            "seconds": seconds,
            "seed": seed,
            "fps": FPS,
            "people": {f"s{p.code}": p.identity for p in plans},
            "videos": [asdict(p) for p in plans],
        }
        atomic_write_bytes(tmp / "realface_long.json", (json.dumps(meta, indent=1) + "\n").encode())
    return meta


def write_sheet(path: Path, plans: list[LongVideoPlan]) -> None:
    """CAS(ME)^2's coding workbook: frame numbers 1-based (img1.jpg is frame 1)."""
    from openpyxl import Workbook

    book = Workbook()
    codes = book.active
    codes.title = "code_final"
    for plan in plans:
        for k, e in enumerate(plan.expressions, start=1):
            kind = "micro-expression" if e.kind == "ME" else "macro-expression"
            codes.append(
                [
                    plan.subject,
                    f"realface{plan.subject}_{k}",
                    e.onset + 1,
                    e.apex + 1,
                    e.offset + 1,
                    au_code(e.aus),
                    e.emotion,
                    kind,
                ]
            )
    naming = book.create_sheet("naming rule1")
    for plan in plans:
        naming.append([plan.identity, plan.code, plan.subject])
    videos = book.create_sheet("naming rule2")
    for plan in plans:
        videos.append([f"{plan.subject:02d}01", f"realface{plan.subject}"])
    book.save(path)


def ensure_long_videos(
    root: Path | None,
    subjects: int = 8,
    seconds: float = 75.0,
    seed: int = 0,
    on_frame: Callable[[], None] | None = None,
) -> Path:
    """The folder of these long videos (default: in the data cache), rendered first if absent."""
    from train.data.synthetic_folder import default_cache

    root = Path(root) if root else default_cache() / f"realface-long-v{VERSION}-n{subjects}x{seconds:g}s-seed{seed}"
    if not holds_set(
        root, "realface_long.json", {"subjects": subjects, "seconds": seconds, "seed": seed, "version": VERSION}
    ):
        write_long_videos(root, subjects, seconds, seed, on_frame)
    return root
