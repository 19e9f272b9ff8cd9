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
from collections.abc import Callable, Sequence
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
    # conversation style: every syllable (frame of its peak, opening 0..1) and the person's mouth travel
    syllables: tuple[tuple[int, float], ...] = field(default=())
    talk_px: float = 2.0
    lid_px: float = 4.0
    moves: tuple[tuple[int, int], ...] = field(default=())  # quick head turns and nods: (start, end)
    style: str = "rest"


STYLES = ("rest", "conversation")
# The people of the real-face preset split once, by name, so a spotter's choices are made on some people
# and reported on the others. The held-out eight are those of the README's first spotting table (seed 0).
HELD_OUT_PEOPLE = (
    "pyfeat-f1",
    "pyfeat-f13",
    "pyfeat-m7",
    "pyfeat-single",
    "pyfeat-multi-1",
    "pyfeat-multi-3",
    "fr-obama",
    "fr-biden",
)
PEOPLE_GROUPS = ("all", "tuning", "held-out")


def _free(busy: list[tuple[int, int]], start: int, end: int, margin: int) -> bool:
    return all(end + margin < a or start - margin > b for a, b in busy)


def _plan_expressions(
    rng: np.random.Generator, frames: int, longest_mae_s: float, gap_s: tuple[float, float]
) -> list[Expression]:
    """MEs (60 %: 0.2-0.5 s, 1-3 px) and MaEs (0.8 s to ``longest_mae_s``, 3-8 px) one after another, a
    random gap of ``gap_s`` seconds between them, each of a CASME II class's AU set."""
    expressions: list[Expression] = []
    t = int(rng.uniform(1.5, 3.0) * FPS)
    while True:
        kind = "ME" if rng.random() < 0.6 else "MaE"
        if kind == "ME":
            length = int(round(rng.uniform(0.2, 0.5) * FPS))
            apex = int(round(length * rng.uniform(0.35, 0.55)))
            amplitude = float(rng.uniform(1.0, 3.0))
        else:
            length = int(round(rng.uniform(0.8, longest_mae_s) * FPS))
            apex = int(round(rng.uniform(0.25, 0.4) * FPS))
            amplitude = float(rng.uniform(3.0, 8.0))
        if t + length >= frames - FPS:
            return expressions
        emotion = str(rng.choice(CASME2_CLASSES))
        aus = AU_SETS[emotion][rng.integers(len(AU_SETS[emotion]))]
        expressions.append(Expression(kind, t, t + apex, t + length, emotion, tuple(aus), amplitude))
        t += length + int(rng.uniform(*gap_s) * FPS)


def plan_conversation(rng: np.random.Generator, subject: int, identity: str, seconds: float) -> LongVideoPlan:
    """An interview, as a screener sees one: talking 30-50 % of the time (spells of 2-10 s, syllables at
    2-5 Hz of varying opening, the person's own mouth travel), 12-25 blinks a minute with the whole lid
    (4-6 px), slow drift plus quick turns and nods, light changes — and micro- and macro-expressions that
    ignore all of it: during talking, beside blinks, macro-expressions of up to 6 s."""
    frames = int(round(seconds * FPS))
    talking, syllables = [], []
    t = int(rng.uniform(1.0, 4.0) * FPS)
    share = rng.uniform(0.3, 0.5)
    while t < frames - 2 * FPS:
        length = int(min(rng.uniform(2.0, 10.0) * FPS, frames - FPS - t))
        if length < FPS:
            break
        hertz = float(rng.uniform(2.0, 5.0))
        talking.append((t, t + length, hertz))
        spell = float(rng.uniform(0.6, 1.0))
        at = t + rng.uniform(0.05, 0.2) * FPS
        while at < t + length:
            syllables.append((int(round(at)), spell * float(rng.uniform(0.4, 1.0))))
            at += FPS / hertz * rng.uniform(0.7, 1.3)
        gap = length * (1 - share) / share * rng.uniform(0.6, 1.4)
        t += length + int(max(gap, 1.5 * FPS))
    expressions = _plan_expressions(rng, frames, longest_mae_s=6.0, gap_s=(2.0, 7.0))
    blinks, t = [], int(rng.uniform(0.5, 2.0) * FPS)
    rate = rng.uniform(12, 25) / 60.0  # blinks per second
    while t < frames - FPS // 2:
        blinks.append(t)
        t += int(max(0.5, rng.exponential(1 / rate) * 0.6 + 0.4 / rate) * FPS)
    head = [(0, 0.0, 0.0, 0.0)]
    for key in range(5 * FPS, frames, 5 * FPS):
        head.append((key, float(rng.uniform(-3, 3)), float(rng.uniform(-2, 2)), float(rng.uniform(-1, 1))))
    keys = sorted(head)
    moves = []
    busy = [(e.onset, e.offset) for e in expressions]
    for _ in range(max(1, int(round(seconds / 20)))):  # turns and nods, away from expressions
        for _attempt in range(50):
            start = int(rng.integers(2 * FPS, frames - 2 * FPS))
            end = start + int(rng.uniform(0.4, 0.8) * FPS)
            if _free(busy, start, end, FPS // 3):
                moves.append((start, end))
                busy.append((start, end))
                break
    for start, end in moves:
        before = _interpolate_head(keys, start)
        if rng.random() < 0.5:  # a turn: the head ends elsewhere
            shift = rng.normal(0, 1, 2)
            shift = shift / np.linalg.norm(shift) * rng.uniform(4, 10)
            moved = [
                (end, before[0] + float(shift[0]), before[1] + float(shift[1]), before[2] + float(rng.uniform(-2, 2)))
            ]
        else:  # a nod: down and back
            middle = (start + end) // 2
            moved = [(middle, before[0], before[1] + float(rng.uniform(4, 8)), before[2]), (end, *before)]
        keys = sorted([k for k in keys if not start <= k[0] <= end] + [(start, *before), *moved])
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
        syllables=tuple(syllables),
        talk_px=float(rng.uniform(1.5, 3.0)),
        lid_px=float(rng.uniform(4.0, 6.0)),
        moves=tuple(moves),
        style="conversation",
    )


def plan_video(rng: np.random.Generator, subject: int, identity: str, seconds: float) -> LongVideoPlan:
    frames = int(round(seconds * FPS))
    expressions = _plan_expressions(rng, frames, longest_mae_s=3.5, gap_s=(3.0, 9.0))
    busy = [(e.onset, e.offset) for e in expressions]
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
    lids = normalised(au_field(scene, model, {"AU43": 1.0}), scene.face_mask, plan.lid_px)
    blink = np.zeros(plan.frames)
    for peak in plan.blinks:
        blink = np.maximum(blink, bump(plan.frames, peak - 4, peak, peak + 4))
    fields.append((lids, blink))
    jaw = normalised(au_field(scene, model, {"AU25": 1.0, "AU26": 1.0}), scene.face_mask, plan.talk_px)
    talk = np.zeros(plan.frames)
    seconds = np.arange(plan.frames) / FPS
    if plan.syllables:  # each syllable opens the mouth and closes it again, over its share of the spell
        for start, end, hertz in plan.talking:
            half = FPS / hertz / 2
            for peak, opening in (s for s in plan.syllables if start <= s[0] <= end):
                talk = np.maximum(talk, opening * bump(plan.frames, peak - half, peak, peak + half))
    else:
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


def choose_people(identities: Sequence[Identity], group: str) -> list[Identity]:
    """The identities of ``group``: all, the tuning people or the held-out people (split by name)."""
    if group not in PEOPLE_GROUPS:
        raise InputError(f"people {group!r}: choose {', '.join(PEOPLE_GROUPS)}")
    if group == "all":
        return list(identities)
    held_out = [i for i in identities if i.name in HELD_OUT_PEOPLE]
    return held_out if group == "held-out" else [i for i in identities if i.name not in HELD_OUT_PEOPLE]


def write_long_videos(
    root: Path,
    subjects: int,
    seconds: float,
    seed: int,
    on_frame: Callable[[], None] | None = None,
    style: str = "rest",
    people: str = "all",
) -> dict:
    """Render ``subjects`` people's videos into ``root`` (new) via a temp folder renamed into place."""
    if style not in STYLES:
        raise InputError(f"long-video style {style!r}: choose {', '.join(STYLES)}")
    found = choose_people(find_identities().identities, people)
    if subjects > len(found):
        raise InputError(f"the real-face preset has {len(found)} identities ({people}); {subjects} long videos asked")
    model = load_au_model()
    rng = np.random.default_rng([seed, 34])
    chosen = [found[k] for k in sorted(rng.permutation(len(found))[:subjects])]
    planner = plan_conversation if style == "conversation" else plan_video
    with staged_folder(root) as tmp:
        plans = []
        for number, person in enumerate(chosen, start=1):
            plan = planner(rng, number, person.name, seconds)
            render_video(plan, person, model, rng, tmp / FRAMES_FOLDER / video_folder(plan), on_frame)
            plans.append(plan)
        write_sheet(tmp / SHEET, plans)
        meta = {
            "name": "realface-long",
            "version": VERSION,
            "subjects": subjects,
            "seconds": seconds,
            "seed": seed,
            **_set_key(style, people),
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


def _set_key(style: str, people: str) -> dict[str, str]:
    """What besides size and seed names a set: written only where it differs from the first sets', so
    the caches of those stay valid."""
    return {**({"style": style} if style != "rest" else {}), **({"people_group": people} if people != "all" else {})}


def ensure_long_videos(
    root: Path | None,
    subjects: int = 8,
    seconds: float = 75.0,
    seed: int = 0,
    on_frame: Callable[[], None] | None = None,
    style: str = "rest",
    people: str = "all",
) -> Path:
    """The folder of these long videos (default: in the data cache), rendered first if absent.
    ``style``: rest (the first sets) or conversation; ``people``: all, tuning or held-out."""
    from mpt_edge.io import default_cache

    key = _set_key(style, people)
    suffix = "".join(f"-{v}" for v in key.values())
    root = (
        Path(root)
        if root
        else default_cache() / f"realface-long-v{VERSION}-n{subjects}x{seconds:g}s-seed{seed}{suffix}"
    )
    if not holds_set(
        root,
        "realface_long.json",
        {"subjects": subjects, "seconds": seconds, "seed": seed, "version": VERSION, **key},
    ):
        write_long_videos(root, subjects, seconds, seed, on_frame, style, people)
    return root
