"""Spotting as the field measures it: the MEGC metric on hand-computed cases, the long-video readers on
fixtures in each set's layout (and their one-line errors), the LBP-chi-squared baseline, the spotter's
micro/macro typing, and ``spot`` end to end with its report."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from app.cli import app
from app.commands.common import EXIT_USER_ERROR
from mpt_edge.errors import InputError
from mpt_edge.spotting.intervals import Counts, Interval, iou, match, pool, score_video

runner = CliRunner()


# --- the MEGC metric --------------------------------------------------------------------------------


def test_iou_counts_frames_with_both_ends():
    assert iou(Interval(0, 2, 9), Interval(5, 7, 14)) == pytest.approx(5 / 15)
    assert iou(Interval(0, 1, 3), Interval(4, 5, 6)) == 0.0
    assert iou(Interval(10, 12, 19), Interval(10, 12, 19)) == 1.0


def test_megc_matching_hand_computed():
    truth = [Interval(10, 14, 19), Interval(40, 45, 49, "MaE"), Interval(100, 104, 109)]
    spotted = [
        Interval(11, 14, 20),  # IoU 9/11 with the first ME: TP
        Interval(12, 14, 18),  # the same ME again: it is taken, so FP
        Interval(40, 44, 49, "ME"),  # right place, wrong type: FP for ME, the MaE is missed
        Interval(104, 106, 119),  # IoU 6/20 = 0.3 < 0.5: FP, and the ME at 100 is missed
    ]
    score = score_video(spotted, truth)
    assert score.by_kind["ME"] == Counts(tp=1, fp=3, fn=1)
    assert score.by_kind["MaE"] == Counts(tp=0, fp=0, fn=1)
    assert score.overall == Counts(1, 3, 2)
    assert score.overall.precision == pytest.approx(0.25) and score.overall.recall == pytest.approx(1 / 3)
    assert score.overall.f1 == pytest.approx(2 / (2 + 3 + 2))


def test_iou_of_exactly_one_half_counts_and_ties_go_to_the_earlier_truth():
    assert score_video([Interval(0, 2, 9)], [Interval(0, 2, 19)]).overall == Counts(1, 0, 0)  # 10/20 = 0.5
    # one spotted interval overlapping two truths equally (IoU 0.5 each): it takes the earlier, the other is missed
    truth = [Interval(0, 1, 3), Interval(4, 5, 7)]
    spotted = [Interval(2, 3, 5)]
    assert iou(spotted[0], truth[0]) == iou(spotted[0], truth[1]) == pytest.approx(2 / 6)
    wide = [Interval(0, 3, 5)]  # IoU 4/6 with the first, 2/8 with the second
    assert match(wide, truth) == [(0, 0)]
    tie_truth = [Interval(0, 2, 3), Interval(4, 5, 7)]
    tie_spotted = [Interval(2, 4, 5)]  # IoU 2/6 with each: below 0.5, no match at all
    assert match(tie_spotted, tie_truth) == []
    equal = [Interval(0, 2, 5), Interval(2, 3, 7)]
    assert iou(Interval(1, 3, 6), equal[0]) == iou(Interval(1, 3, 6), equal[1]) == pytest.approx(5 / 7)
    assert match([Interval(1, 3, 6)], equal) == [(0, 0)]  # an exact tie: the earlier truth


def test_pooling_sums_counts_over_videos():
    a = score_video([Interval(0, 1, 9)], [Interval(0, 1, 9)])
    b = score_video([Interval(0, 1, 9, "MaE")], [Interval(50, 60, 80, "MaE")])
    pooled = pool([a, b])
    assert pooled.by_kind["ME"] == Counts(1, 0, 0) and pooled.by_kind["MaE"] == Counts(0, 1, 1)
    assert pooled.as_dict()["overall"] == {"tp": 1, "fp": 1, "fn": 1, "precision": 0.5, "recall": 0.5, "f1": 0.5}


# --- readers -----------------------------------------------------------------------------------------


def _frames(folder: Path, first: int, count: int, name=lambda n: f"img{n}.jpg") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(first, first + count):
        cv2.imwrite(str(folder / name(n)), np.full((24, 32, 3), n % 255, np.uint8))


def make_casme_sq(root: Path, rows=None) -> Path:
    from openpyxl import Workbook

    _frames(root / "rawpic" / "s15" / "15_0101disgustingteeth", 1, 60)
    _frames(root / "rawpic" / "s15" / "15_0401girlcrashing", 1, 40)
    book = Workbook()
    codes = book.active
    for row in (
        rows
        if rows is not None
        else [
            [1, "disgust1_1", 10, 14, 19, "4+7", "disgust", "micro-expression"],
            [1, "disgust1_2", 30, 0, 55, "12", "happiness", "macro-expression"],
            [1, "anger1_1", 5, 8, 12, "4", "anger", "micro-expression"],
        ]
    ):
        codes.append(row)
    book.create_sheet("naming rule1").append(["participant", 15, 1])
    videos = book.create_sheet("naming rule2")
    videos.append(["0101", "disgust1"])
    videos.append(["0401", "anger1"])
    book.save(root / "CAS(ME)^2code_final.xlsx")
    return root


def test_casme_sq_reader(tmp_path):
    from train.data.long_videos import read_long_videos

    read = read_long_videos("casme_sq", make_casme_sq(tmp_path))
    by_name = {v.name: v for v in read.videos}
    disgust = by_name["15_0101disgustingteeth"]
    assert disgust.fps == 30 and disgust.frames == 60 and disgust.first_number == 1
    assert disgust.truth == (Interval(9, 13, 18, "ME"), Interval(29, 41, 54, "MaE"))  # stream indices; apex 0 -> middle
    assert any("apex not coded" in n for n in read.notes)
    assert by_name["15_0401girlcrashing"].truth == (Interval(4, 7, 11, "ME"),)


@pytest.mark.parametrize(
    "rows, message",
    [
        (
            [[1, "disgust1_1", 10, 14, 99, "4", "disgust", "micro-expression"]],
            "row 1: interval 10-99 lies past the video's frames 1-60",
        ),
        ([[1, "disgust1_1", 10, 14, 19, "4", "disgust"]], "row 1: 7 columns"),
        (
            [[2, "disgust1_1", 10, 14, 19, "4", "disgust", "micro-expression"]],
            "row 1: subject '2' is not in the naming sheet",
        ),
        ([[1, "disgust1_1", "ten", 14, 19, "4", "disgust", "micro-expression"]], "row 1: onset is 'ten'"),
        ([[1, "disgust1_1", 10, 14, 19, "4", "disgust", "blink"]], "row 1: type 'blink'"),
        (
            [[1, "disgust1_1", 20, 14, 19, "4", "disgust", "micro-expression"]],
            "row 1: onset 20, apex 14, offset 19 are not in order",
        ),
    ],
)
def test_casme_sq_reader_errors_name_the_sheet_and_row(tmp_path, rows, message):
    from train.data.long_videos import read_long_videos

    with pytest.raises(
        InputError,
        match="CAS\\(ME\\)\\^2code_final.xlsx " + message.replace("(", "\\(").replace(")", "\\)").replace("^", "\\^"),
    ):
        read_long_videos("casme_sq", make_casme_sq(tmp_path, rows))


def test_a_missing_frame_is_one_line(tmp_path):
    from train.data.long_videos import read_long_videos

    root = make_casme_sq(tmp_path)
    (root / "rawpic" / "s15" / "15_0101disgustingteeth" / "img30.jpg").unlink()
    result = runner.invoke(app, ["spot", "--dataset", "casme_sq", "--root", str(root)])
    assert (
        result.exit_code == EXIT_USER_ERROR and "missing frame 30" in result.output and "Traceback" not in result.output
    )
    with pytest.raises(InputError, match="missing frame 30"):
        read_long_videos("casme_sq", root)


def make_samm_long(root: Path) -> Path:
    from openpyxl import Workbook

    _frames(root / "SAMM_longvideos" / "006_1", 1, 80, lambda n: f"006_1_{n:05d}.jpg")
    book = Workbook()
    sheet = book.active
    for k in range(9):
        sheet.append([f"SAMM Long Videos description line {k}"])
    sheet.append(
        [
            "Subject",
            "Filename",
            "Inducement Code",
            "Onset",
            "Apex",
            "Offset",
            "Duration",
            "Type",
            "Action Units",
            "Notes",
        ]
    )
    sheet.append(["006", "006_1_1", 1, 5, 20, 60, 56, "Macro", "12", ""])
    sheet.append(["006", "006_1_2", 1, 61, 66, 75, 15, "Micro - 1/2", "4", ""])
    book.save(root / "SAMM_LongVideos_V3_Release.xlsx")
    return root


def test_samm_long_reader(tmp_path):
    from train.data.long_videos import read_long_videos

    read = read_long_videos("samm_long", make_samm_long(tmp_path))
    (video,) = read.videos
    assert video.fps == 200 and video.frames == 80 and video.subject == "006"
    assert video.truth == (Interval(4, 19, 59, "MaE"), Interval(60, 65, 74, "ME"))


def test_casme3_long_reader(tmp_path):
    from openpyxl import Workbook

    from train.data.long_videos import read_long_videos

    _frames(tmp_path / "frame" / "spNO.1" / "a", 0, 50, lambda n: f"{n}.jpg")
    for kind in ("ME", "MaE"):
        book = Workbook()
        sheet = book.active
        sheet.append(["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "emotion"])
        sheet.append(
            ["spNO.1", "a", 10, 12, 15, "4", "disgust"] if kind == "ME" else [1, "a", 20, 25, 45, "12", "happy"]
        )
        book.save(tmp_path / f"cas(me)3_part_A_{kind}_label_JpgIndex_v2.xlsx")
    (video,) = read_long_videos("casme3_long", tmp_path).videos
    assert video.first_number == 0 and video.truth == (Interval(10, 12, 15, "ME"), Interval(20, 25, 45, "MaE"))


# --- the baseline -----------------------------------------------------------------------------------


def test_uniform_lbp_has_58_patterns_and_histograms_sum_to_one():
    from mpt_edge.spotting.baseline import BINS, _uniform_table, lbp_histograms

    table = _uniform_table()
    assert len(set(table.tolist())) == BINS and int((table < BINS - 1).sum()) == 58
    hist = lbp_histograms(np.random.default_rng(0).integers(0, 255, (120, 120)).astype(np.uint8))
    assert hist.shape == (36, 59) and np.allclose(hist.sum(1), 1.0)


def test_baseline_peaks_at_the_centre_of_a_brief_change():
    """A block that changes for N - 2 frames (tail and head frames i -/+ k just outside it) makes a contrast
    peak at its centre; the interval is [peak - k, peak + k]."""
    from mpt_edge.spotting.baseline import baseline_signals, half_window, lbp_histograms

    rng = np.random.default_rng(1)
    face = cv2.GaussianBlur(rng.integers(0, 255, (120, 120)).astype(np.uint8), (0, 0), 1.0)
    changed = face.copy()
    changed[40:60, 40:60] = rng.integers(0, 255, (20, 20))  # one block's texture changes

    def noisy(image):
        return lbp_histograms(np.clip(image.astype(int) + rng.integers(-1, 2, image.shape), 0, 255).astype(np.uint8))

    frames = [noisy(changed if 59 <= t < 66 else face) for t in range(120)]
    me, _ = baseline_signals(frames, 30.0)
    assert me.k == half_window(0.3, 30.0) == 4
    spotted = me.intervals(0.3)
    assert len(spotted) >= 1 and any(abs(i.apex - 62) <= 4 for i in spotted)
    best = max(spotted, key=lambda i: i.score)
    assert abs(best.apex - 62) <= 4 and best.offset - best.onset == 2 * me.k


# --- the spotter's types -----------------------------------------------------------------------------


BROW, MOUTH, CHEEK = (slice(28, 40), slice(30, 60)), (slice(64, 80), slice(36, 60)), (slice(48, 60), slice(60, 76))


def _face_stream(
    frames: int, moves: list[tuple[int, int | None, tuple[slice, slice]]], seed: int = 0
) -> list[np.ndarray]:
    """Small gray faces (the spotter's 96 px signal) with a region's texture shifted by 3 px during [start, end) —
    ``end`` None: from ``start`` on, for good (a new posture)."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((96, 96)).astype(np.float32), (0, 0), 2.0)
    out = []
    for t in range(frames):
        image = base.copy()
        for start, end, region in moves:
            if start <= t and (end is None or t < end):
                patch = base[region]
                image[region] = np.roll(patch, 3, axis=1) * 0.6 + patch * 0.4
        out.append(image + rng.normal(0, 0.002, image.shape).astype(np.float32))
    return out


def test_the_spotter_types_micro_and_macro_expressions():
    from mpt_edge.spotting.spotter import ApexSpotter, SpotterConfig

    spotter = ApexSpotter(SpotterConfig())
    stream = _face_stream(400, [(100, 108, MOUTH), (200, 290, MOUTH)])
    spots = [s for t, image in enumerate(stream) if (s := spotter.update_signal(t, image)) is not None]
    kinds = [(s.kind, s.onset, s.offset) for s in spots]
    assert [k for k, *_ in kinds] == ["ME", "MaE"], kinds
    me, mae = spots
    assert abs(me.onset - 99) <= 2 and abs(me.offset - 108) <= 3
    assert abs(mae.onset - 199) <= 2 and abs(mae.offset - 290) <= 4 and 200 <= mae.apex <= 290


def test_an_event_longer_than_half_a_second_is_a_macro_expression():
    """A run that rises and falls within the spotter's ME limit but whose interval (the quiet frame either side
    included) lasts over 0.5 s at 30 fps is typed MaE, as the field defines an ME; 14 frames of motion stay an ME,
    and without the limit (``me_max_interval_frames=None``) the long one was an ME too."""
    from mpt_edge.spotting.spotter import ApexSpotter, SpotterConfig

    stream = _face_stream(300, [(100, 114, MOUTH), (200, 215, MOUTH)])
    typed = {}
    for limit in (16, None):
        spotter = ApexSpotter(SpotterConfig(me_max_interval_frames=limit))
        typed[limit] = [
            (s.kind, s.onset, s.offset) for t, im in enumerate(stream) if (s := spotter.update_signal(t, im))
        ]
    assert typed[16] == [("ME", 99, 114), ("MaE", 199, 215)], typed
    assert typed[None] == [("ME", 99, 114), ("ME", 199, 215)], typed
    assert SpotterConfig() == SpotterConfig(me_max_interval_frames=16)  # the default


def _talking_face(
    frames: int, seed: int = 0, corner_event: tuple[int, int] | None = None
) -> tuple[list[np.ndarray], list[int]]:
    """The spotter's 96 px signal of a face in the canonical landmark layout that talks (frames 60-200, 4
    syllables a second: the lips' centre opening 3 px and back, the lips' corners following by 1 px — a syllable
    opens the centre most) and blinks (the eye cells' texture moving 3 px, frames 240 and 300); during
    ``corner_event`` the lip corners are also pulled 2 px sideways (an AU12/14 micro-expression)."""
    from mpt_edge.spotting.spotter import SpotterConfig, face_regions

    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((96, 96)).astype(np.float32), (0, 0), 2.0)
    config = SpotterConfig()
    regions = face_regions(config.cells, config.margin_cells, config.eye_reach)  # the cells as the spotter's
    cell = 96 // config.cells
    lips, corners, eyes = (np.kron(regions[name], np.ones((cell, cell), bool)) for name in ("mouth", "corners", "eyes"))
    lips &= ~corners
    out, blinks = [], [240, 300]
    for t in range(frames):
        image = base.copy()
        if 60 <= t < 200:
            opening = 0.5 - 0.5 * np.cos(2 * np.pi * 4 * (t - 60) / 30)
            image[lips] = np.roll(base, int(round(3 * opening)), axis=0)[lips]
            image[corners] = np.roll(base, int(round(opening)), axis=0)[corners]
        if corner_event is not None and corner_event[0] <= t < corner_event[1]:
            image[corners] = np.roll(base, 2, axis=1)[corners]
        if any(abs(t - b) <= 3 for b in blinks):
            image[eyes] = np.roll(base, 3, axis=0)[eyes]
        out.append(image + rng.normal(0, 0.002, image.shape).astype(np.float32))
    return out, blinks


def test_the_region_spotter_recognises_talking_and_blinks():
    """Syllables and blinks are counted on their own cells; talking explains the syllables away, where the
    rules alone report them as micro-expressions. (Not yet shown: a brow ME *during* talking — the
    high-passed motion of the jaw reaches the cells above the mouth; see docs "Spotting".)"""
    from mpt_edge.spotting.spotter import ApexSpotter, SpotterConfig

    stream, blinks = _talking_face(360)
    rules = ApexSpotter(SpotterConfig(mask_eyes=True, regions=False))
    regions = ApexSpotter(SpotterConfig(mask_eyes=True, regions=True, learned_talking=False))
    found = {}
    for name, spotter in (("rules", rules), ("regions", regions)):
        found[name] = [s for t, image in enumerate(stream) if (s := spotter.update_signal(t, image)) is not None]
    assert regions.syllable_count >= 6 and regions.blink_count >= len(blinks)  # (none counted while settling)
    assert regions.explained["talking"] >= 1
    assert len(found["regions"]) <= 2 < len(found["rules"]), (found["regions"], found["rules"])


def test_after_a_spell_the_threshold_comes_from_the_quiet_frames():
    """While the face talks its mouth leaves the energy, so the noise window learns another signal than the quiet
    face's (on real faces: a threshold 3-6x the quiet energy right after a spell, where an AU12 went unseen). With
    ``quiet_noise_after_talking`` the threshold after the spell is the quiet frames' own: a cheek's small motion
    half a second after the last syllable is the ME it is; without, it is lost (here in a long run the mouth's
    return started)."""
    from mpt_edge.spotting.spotter import ApexSpotter, SpotterConfig, face_regions

    stream, _ = _talking_face(330)  # talks over frames 60-200
    config = SpotterConfig()
    regions = face_regions(config.cells, config.margin_cells, config.eye_reach)
    quiet = regions["inner"] & ~regions["eyes"] & ~regions["eye_ring"] & ~regions["mouth_ring"]
    (y, x), c = np.argwhere(quiet)[0], 96 // config.cells
    cheek = np.s_[y * c : (y + 1) * c, x * c : (x + 1) * c]
    for t in range(226, 232):
        stream[t][cheek] = 0.4 * np.roll(stream[t][cheek], 1, axis=1) + 0.6 * stream[t][cheek]
    found = {}
    for after in (False, True):
        spotter = ApexSpotter(
            SpotterConfig(mask_eyes=True, regions=True, learned_talking=False, quiet_noise_after_talking=after)
        )
        spots = [s for t, image in enumerate(stream) if (s := spotter.update_signal(t, image)) is not None]
        assert spotter.syllable_count >= 6  # it did talk
        found[after] = [(s.kind, s.onset, s.offset) for s in spots if s.onset >= 200]
    assert found[True] == [("ME", 225, 232)], found
    assert ("ME", 225, 232) not in found[False], found


def _face_with_a_restless_cell(frames: int, event: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """The spotter's 96 px signal in the landmark layout: one cell of texture that flickers all the time (a lip's
    edge, a brow: sensor noise and a tracker's jitter show most there), and a small motion in another cell,
    away from the eyes and the mouth, during ``event``."""
    from mpt_edge.spotting.spotter import SpotterConfig, face_regions

    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((96, 96)).astype(np.float32), (0, 0), 2.0)
    config = SpotterConfig()
    regions = face_regions(config.cells, config.margin_cells, config.eye_reach)
    quiet = regions["inner"] & ~regions["eyes"] & ~regions["eye_ring"] & ~regions["mouth_ring"]
    (ry, rx), (my, mx) = np.argwhere(quiet)[[0, -1]]
    c = 96 // config.cells
    restless = np.s_[ry * c : (ry + 1) * c, rx * c : (rx + 1) * c]
    moving = np.s_[my * c : (my + 1) * c, mx * c : (mx + 1) * c]
    out = []
    for t in range(frames):
        image = base.copy()
        image[restless] += rng.normal(0, 0.02, (c, c)).astype(np.float32)
        if event[0] <= t < event[1]:
            image[moving] = 0.6 * np.roll(base[moving], 1, axis=1) + 0.4 * base[moving]
        out.append(image + rng.normal(0, 0.002, image.shape).astype(np.float32))
    return out


def test_each_cell_is_held_to_its_own_noise_floor():
    """A cell whose texture flickers (10x the sensor noise) set the one threshold every cell was held to: a
    motion in a quiet cell at half of it went unseen. Equalised (each cell over its own floor, the person's face
    setting it), the motion is an ME; the flicker alone stays none."""
    from mpt_edge.spotting.spotter import ApexSpotter, SpotterConfig

    stream = _face_with_a_restless_cell(300, (200, 206))
    found = {}
    for equalise in (False, True):
        config = SpotterConfig(mask_eyes=True, regions=True, learned_talking=False, equalise_cells=equalise)
        spotter = ApexSpotter(config)
        found[equalise] = [s for t, image in enumerate(stream) if (s := spotter.update_signal(t, image)) is not None]
        gain = spotter.cell_gain
    assert not found[False], found
    assert [(s.kind, s.onset, s.offset) for s in found[True]] == [("ME", 199, 206)], found
    assert gain is not None and gain.max() <= 1.0 and gain.min() < 0.3  # the flickering cell damped, none raised


def test_frame_counts_scale_with_the_frame_rate():
    from mpt_edge.spotting.spotter import SpotterConfig

    fast = SpotterConfig().for_fps(200)
    assert fast.max_frames == round(16 * 200 / 30) and fast.max_macro_frames == 1200 and fast.fps == 200
    assert SpotterConfig().for_fps(30) == SpotterConfig()


# --- spot, end to end --------------------------------------------------------------------------------


def _face_models() -> bool:
    return Path(os.environ.get("MPT_EDGE_FACE_MODELS", "")).joinpath("face_landmark.tflite").is_file()


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    if not _face_models():
        pytest.skip("face models not installed")
    from train.data.realface.long_videos import ensure_long_videos

    return ensure_long_videos(tmp_path_factory.mktemp("long") / "set", subjects=1, seconds=20, seed=0)


def test_spot_scores_a_real_face_long_video_beside_the_baseline(long_video, tmp_path):
    result = runner.invoke(
        app,
        [
            "spot",
            "--dataset",
            "casme_sq",
            "--root",
            str(long_video),
            "--out",
            str(tmp_path / "eval"),
            "--plots",
            str(tmp_path / "plots"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output.strip().splitlines()[-1])
    assert scores["videos"][0]["frames"] == 600 and scores["ours"]["overall"]["tp"] >= 1
    assert set(scores["baseline_sweep"]) and scores["baseline_p"] in [float(p) for p in scores["baseline_sweep"]]
    assert json.loads((tmp_path / "eval" / "spotting.json").read_text())["dataset"] == "casme_sq"
    sources = {json.loads(line)["source"] for line in (tmp_path / "eval" / "intervals.jsonl").read_text().splitlines()}
    assert sources == {"ours", "baseline", "truth"}
    assert len(list((tmp_path / "plots").glob("*.png"))) == 1


def test_spot_a_folder_writes_intervals_and_a_report(long_video, tmp_path):
    folder = next((long_video / "rawpic").glob("s*/*"))
    result = runner.invoke(
        app,
        [
            "spot",
            str(folder),
            "--out",
            str(tmp_path / "spots.csv"),
            "--report",
            str(tmp_path / "report.html"),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "spots.csv").read_text().splitlines()
    assert lines[0].startswith("video,source,type,onset,apex,offset") and len(lines) > 1
    page = (tmp_path / "report.html").read_text()
    assert (
        page.count("data:image/png;base64,") >= 1
        and "<script" not in page
        and "http"
        not in re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page.split("<body>")[1].split("Written by")[0])
    )  # no link to anything (the images' base64 may spell "http" by chance: they are left out)
    assert "Intervals: ME:" in page and re.search(r"Blinks: [1-9]\d* \(", page), page.split("<body>")[1][:600]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:  # the report renders in a browser, images included, with nothing fetched
        shot = tmp_path / "report.png"
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                f"--user-data-dir={tmp_path / 'profile'}",
                f"--screenshot={shot}",
                "--window-size=1280,900",
                (tmp_path / "report.html").as_uri(),
            ],
            capture_output=True,
            timeout=120,
        )
        assert shot.is_file() and cv2.imread(str(shot)).std() > 5


def test_spot_bad_input_is_one_line(tmp_path):
    result = runner.invoke(app, ["spot", str(tmp_path / "missing.mp4")])
    assert result.exit_code == EXIT_USER_ERROR and "does not exist" in result.output
    result = runner.invoke(app, ["spot", "--dataset", "nope", "--root", str(tmp_path)])
    assert result.exit_code == EXIT_USER_ERROR and "unknown long-video set" in result.output
    (tmp_path / "v").mkdir()
    result = runner.invoke(app, ["spot", str(tmp_path / "v"), "--out", str(tmp_path / "x.txt")])
    assert result.exit_code == EXIT_USER_ERROR and ".jsonl or .csv" in result.output


def test_the_python_api_spots_like_the_command(long_video):
    import mpt_edge

    folder = next((long_video / "rawpic").glob("s*/*"))
    result = mpt_edge.spot(folder, fps=30)
    cli = runner.invoke(app, ["spot", str(folder), "--fps", "30"])
    rows = [json.loads(line) for line in cli.stdout.splitlines() if line.startswith("{")]
    expressions = [r for r in rows if r["type"] in ("ME", "MaE")]
    assert [(r["type"], r["onset"], r["apex"], r["offset"]) for r in expressions] == [
        (i.kind, i.onset, i.apex, i.offset) for i in result.intervals
    ]
    # the face's blinks and talking come out as their own rows, the same from both
    assert [(r["type"], r["onset"], r["offset"]) for r in rows if r not in expressions] == sorted(
        ((s.kind, s.onset, s.offset) for s in result.spans), key=lambda row: (row[1], row[2])
    )
    assert any(s.kind == "blink" for s in result.spans)


# --- what surrounds the truth ---------------------------------------------------------------------------


def test_scores_split_by_context_and_false_mes_per_minute_hand_computed():
    from mpt_edge.spotting.intervals import Distractors, count_by_context, false_mes_per_minute

    around = Distractors(blinks=(300,), talking=((100, 200),), moves=((500, 520),))
    assert [around.context(f, 30.0) for f in (50, 95, 150, 206, 310, 330, 515, 700)] == [
        "quiet",
        "talking",  # 0.2 s before the spell
        "talking",
        "talking",
        "blink",
        "quiet",  # 1 s after the blink
        "head move",
        "quiet",
    ]
    truth = [Interval(40, 45, 50), Interval(140, 145, 150), Interval(600, 700, 800, "MaE")]
    spotted = [
        Interval(40, 45, 50),  # TP, quiet
        Interval(160, 165, 170),  # FP during talking
        Interval(298, 300, 303),  # FP at a blink
        Interval(600, 690, 790, "MaE"),  # TP, quiet
    ]
    split = count_by_context(spotted, truth, around, 30.0)
    assert split["quiet"] == Counts(tp=2) and split["talking"] == Counts(fp=1, fn=1)
    assert split["blink"] == Counts(fp=1) and split["head move"] == Counts()
    assert false_mes_per_minute(spotted, truth, frames=1800, fps=30.0) == 2.0  # 2 false MEs in one minute


def test_conversation_videos_talk_a_quarter_of_the_time_blink_12_to_25_a_minute_and_keep_people_apart():
    from train.data.realface.long_videos import FPS, HELD_OUT_PEOPLE, choose_people, plan_conversation

    inside_talking = 0
    for seed in range(6):
        plan = plan_conversation(np.random.default_rng(seed), 1, "x", 75.0)
        talking = sum(end - start for start, end, _ in plan.talking) / plan.frames
        blinks = len(plan.blinks) / (plan.frames / FPS / 60)
        assert talking >= 0.25 and 12 <= blinks <= 25, (seed, talking, blinks)
        assert all(2 <= hertz <= 5 for _, _, hertz in plan.talking) and plan.syllables and plan.moves
        inside_talking += sum(any(a <= e.apex <= b for a, b, _ in plan.talking) for e in plan.expressions)
        assert plan.expressions and plan.style == "conversation"
    assert inside_talking >= 5  # expressions ignore the talking: some fall inside it

    class Person:
        def __init__(self, name: str) -> None:
            self.name = name

    everyone = [Person(n) for n in (*HELD_OUT_PEOPLE, "if-t1-1", "if-t1-2", "pyfeat-f15")]
    tuning = {p.name for p in choose_people(everyone, "tuning")}  # type: ignore[arg-type]
    held_out = {p.name for p in choose_people(everyone, "held-out")}  # type: ignore[arg-type]
    assert tuning == {"if-t1-1", "if-t1-2", "pyfeat-f15"} and held_out == set(HELD_OUT_PEOPLE)
    with pytest.raises(InputError, match="choose all, tuning, held-out"):
        choose_people(everyone, "everyone")  # type: ignore[arg-type]


def test_an_alpha_0_bundles_report_thumbnails_are_not_magnified():
    """The finding (issue "The house"): `alpha or 8.0` magnified an α = 0 bundle's thumbnails x8."""
    import base64

    from mpt_edge.motion.config import MotionConfig
    from mpt_edge.spotting.report import UNBUNDLED_ALPHA, thumbnail_alpha, thumbnails

    class Bundle:  # what thumbnail_alpha reads of a bundle
        def __init__(self, alpha: float) -> None:
            self.motion_config = MotionConfig(alpha=alpha)

    assert thumbnail_alpha(Bundle(0.0)) == 0.0 and thumbnail_alpha(Bundle(2.0)) == 2.0  # type: ignore[arg-type]
    assert thumbnail_alpha(None) == UNBUNDLED_ALPHA
    rng = np.random.default_rng(0)
    onset = (cv2.GaussianBlur(rng.random((64, 64)), (0, 0), 2.0) * 255).astype(np.uint8)
    onset = cv2.cvtColor(onset, cv2.COLOR_GRAY2BGR)
    apex = np.roll(onset, 1, axis=1)

    def decoded(png: str) -> np.ndarray:
        data = base64.b64decode(png.split(",", 1)[1]) if png.startswith("data:") else base64.b64decode(png)
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).astype(float)

    _, apex_thumb, at_0 = (decoded(t) for t in thumbnails(onset, apex, 0.0))
    *_, at_8 = (decoded(t) for t in thumbnails(onset, apex, 8.0))
    assert np.abs(at_0 - apex_thumb).mean() < 1.0 < np.abs(at_8 - apex_thumb).mean()


def test_the_me_threshold_trades_true_mes_for_fewer_false_ones_from_the_cli(long_video):
    """``--me-threshold``: 0 keeps every candidate the learned scorer is asked about, 1 none (MaEs, blinks and
    talking are not its to judge); out of 0..1 it is one line before anything runs."""
    folder = next((long_video / "rawpic").glob("s*/*"))
    kinds = {}
    for threshold in ("0", "1"):
        result = runner.invoke(app, ["spot", str(folder), "--me-threshold", threshold, "--json"])
        assert result.exit_code == 0, result.output
        kinds[threshold] = json.loads(result.output.strip().splitlines()[-1])["intervals"]
    assert kinds["0"]["ME"] >= 1 and kinds["1"]["ME"] == 0, kinds
    assert kinds["0"]["MaE"] == kinds["1"]["MaE"]
    refused = runner.invoke(app, ["spot", str(folder), "--me-threshold", "1.5"])
    assert refused.exit_code == 2 and "--me-threshold" in refused.output


def test_a_macro_expression_is_found_while_a_run_that_never_comes_back_is_followed():
    """Each run too long for an ME is followed on its own: a new posture of the brows (it never comes back) must
    not hide a macro-expression at the mouth that begins while it is followed. With one follower the mouth's
    2-s expression was lost: the spotter waited 4 s for the brows to come back."""
    from mpt_edge.spotting.spotter import ApexSpotter, SpotterConfig

    spotter = ApexSpotter(SpotterConfig())
    stream = _face_stream(400, [(100, None, BROW), (150, 210, MOUTH)])
    spots = [s for t, image in enumerate(stream) if (s := spotter.update_signal(t, image)) is not None]
    assert [(s.kind, abs(s.onset - 149) <= 2, abs(s.offset - 210) <= 4) for s in spots] == [("MaE", True, True)], spots
    assert spotter.discarded_runs == 1 and not spotter.macros  # the brows' run ran out; nothing is left followed


def test_a_micro_expression_inside_a_macro_expression_leaves_the_macro_expression_whole():
    """The stream pipeline keeps the crops of the macro-expression it follows (its onset is long out of the ring
    buffer) when a micro-expression is reported inside it: before, the ME took them along and the MaE that came
    back afterwards was dropped as "begun before the buffer" — half the tuning people's MaEs."""
    from mpt_edge.stream.pipeline import Pipeline, PipelineConfig
    from mpt_edge.stream.sources import Frame

    stream = _face_stream(400, [(100, 220, MOUTH), (160, 166, CHEEK)])
    pipeline = Pipeline(None, None, PipelineConfig(face_detector="none"))
    faces = [cv2.resize(np.clip(image * 255, 0, 255).astype(np.uint8), (224, 224)) for image in stream]
    events = [e for i, face in enumerate(faces) if (e := pipeline.process(Frame(i, i / 30, face)))]
    typed = [(e.type, e.frame_onset, e.frame_offset) for e in events if e.is_expression]
    assert [kind for kind, *_ in typed] == ["ME", "MaE"], typed
    assert abs(typed[1][1] - 99) <= 2 and abs(typed[1][2] - 220) <= 4, typed


def test_the_runs_followed_at_once_are_bounded():
    """A face that keeps changing and never comes back (a new posture every 0.7 s) starts a follower at every long
    run; each ends within ``max_macro_frames``, so at most max_macro_frames / max_frames are followed at once —
    memory stays bounded however long the stream (the pipeline keeps two crops for each)."""
    from mpt_edge.spotting.spotter import ApexSpotter, SpotterConfig

    config = SpotterConfig()
    spotter = ApexSpotter(config)
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.random((96, 96)).astype(np.float32), (0, 0), 2.0)
    most = 0
    for t in range(1200):
        if t % 20 == 0:  # a new posture: a region's texture moves for good
            y, x = rng.integers(24, 60, 2)
            image = image.copy()
            image[y : y + 12, x : x + 12] = np.roll(image[y : y + 12, x : x + 12], 3, axis=1)
        spotter.update_signal(t, image + rng.normal(0, 0.002, image.shape).astype(np.float32))
        most = max(most, len(spotter.macros))
    assert 2 <= most <= config.max_macro_frames // config.max_frames + 1, most
    assert spotter.discarded_runs >= 10  # they ran out, as runs that never come back do
