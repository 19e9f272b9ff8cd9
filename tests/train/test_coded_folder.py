"""The synthetic set on disk and the coded-folder reader it shares with real data: round trip,
determinism, atomic generation, and one clear message for every kind of bad annotation."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from mpt_edge.errors import InputError
from train.data.clips import load_pair
from train.data.coded_folder import read_coded_folder
from train.data.synthetic import generate
from train.data.synthetic_folder import SyntheticSpec, ensure_synthetic, read_synthetic

SPEC = SyntheticSpec(subjects=2, clips_per_class=1, classes=3, size=64, seed=3)


@pytest.fixture
def synthetic_root(tmp_path):
    return ensure_synthetic(SPEC, tmp_path / "synthetic")


def rewrite_table(root, edit):
    path = root / "annotations.csv"
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    rows = edit(rows)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def test_written_set_reads_back_as_the_generated_clips(synthetic_root):
    spec, result = read_synthetic(synthetic_root)
    assert spec == SPEC and not result.skipped
    assert [r.subject for r in result.records] == ["sub01"] * 3 + ["sub02"] * 3
    assert [r.emotion for r in result.records] == ["negative", "positive", "surprise"] * 2
    clips = generate(num_subjects=2, clips_per_class=1, num_classes=3, size=64, seed=3)
    for record, clip in zip(result.records, clips):
        onset, apex = load_pair(record)
        np.testing.assert_array_equal(onset, clip.frames[clip.onset])  # PNG is lossless: sub-pixel motion survives
        np.testing.assert_array_equal(apex, clip.frames[clip.apex])
        assert record.apex == clip.apex + 1 and record.label == clip.label  # frame numbers are 1-based, as in CASME II
    meta = json.loads((synthetic_root / "dataset.json").read_text())
    assert meta["classes"] == ["negative", "positive", "surprise"]


def test_existing_set_is_reused_and_a_different_one_refused(synthetic_root):
    stamp = (synthetic_root / "annotations.csv").stat().st_mtime_ns
    assert ensure_synthetic(SPEC, synthetic_root) == synthetic_root
    assert (synthetic_root / "annotations.csv").stat().st_mtime_ns == stamp
    with pytest.raises(InputError, match="holds a different synthetic set"):
        ensure_synthetic(SyntheticSpec(subjects=3, clips_per_class=1, size=64, seed=3), synthetic_root)


def test_interrupted_generation_leaves_nothing(tmp_path):
    calls = []

    def stop_after_two():
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic(SPEC, tmp_path / "set", on_clip=stop_after_two)
    assert list(tmp_path.iterdir()) == []


def test_every_bad_row_is_reported_together_naming_table_and_rows(synthetic_root):
    def corrupt(rows):
        rows[1][3] = "99"  # apex after offset
        rows[2][5] = "contempt"  # unknown emotion
        rows.append(list(rows[3]))  # duplicate clip
        rows[4][2] = "x"  # not a number
        return rows

    rewrite_table(synthetic_root, corrupt)
    (synthetic_root / "sub02" / "EP03_01" / "img1.png").unlink()  # missing onset frame of row 7
    with pytest.raises(InputError) as info:
        read_coded_folder(synthetic_root, SPEC.class_names, "synthetic")
    message = str(info.value)
    assert "\n" not in message and "annotations.csv" in message and "--skip-invalid" in message
    for expected in (
        "row 2",
        "apex 99 outside",
        "row 3",
        "unknown emotion 'contempt'",
        "row 5",
        "not integers",
        "row 8",
        "duplicate of annotations.csv row 4",
        "row 7",
        "missing frame",
    ):
        assert expected in message, expected
    result = read_coded_folder(synthetic_root, SPEC.class_names, "synthetic", skip_invalid=True)
    assert len(result.skipped) == 5 and len(result.records) == 2


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda root: (root / "annotations.csv").unlink(), "does not exist"),
        (
            lambda root: rewrite_table(
                root,
                lambda rows: (
                    [["Subject", "Filename", "Onset", "ApexFrame", "OffsetFrame", "Estimated Emotion"]] + rows[1:]
                ),
            ),
            "lacks column(s) ['OnsetFrame']",
        ),
        (lambda root: rewrite_table(root, lambda rows: rows[:1]), "has no clips"),
    ],
)
def test_broken_tables_are_clear_errors(synthetic_root, damage, message):
    damage(synthetic_root)
    with pytest.raises(
        InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")
    ):
        read_coded_folder(synthetic_root, SPEC.class_names, "synthetic")


def test_unreadable_frame_names_file_and_clip(synthetic_root):
    _, result = read_synthetic(synthetic_root)
    record = result.records[0]
    record.frames[record.apex].write_bytes(b"\x89PNG but truncated")
    with pytest.raises(
        InputError, match=r"cannot decode image .*img\d+\.png \(clip synthetic/sub01/EP01_01, annotations.csv row 2\)"
    ):
        load_pair(record)


def test_invalid_generator_settings_are_one_message():
    with pytest.raises(InputError, match="subjects=1.*classes=4"):
        SyntheticSpec(subjects=1, classes=4)


def test_frames_are_png_in_casme2_style_folders(synthetic_root):
    frames = sorted(p.name for p in (synthetic_root / "sub01" / "EP01_01").iterdir())
    assert frames == [f"img{i}.png" for i in range(1, 10)]
    assert cv2.imread(str(synthetic_root / "sub01" / "EP01_01" / "img1.png")).shape == (64, 64, 3)
