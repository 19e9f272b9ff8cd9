"""Readers of the licensed data sets on fixtures in their published layouts, `prepare` / `train` /
`eval` end to end on them, and one clear message for each kind of malformed input."""

from __future__ import annotations

import json
import shutil

import cv2
import pytest
from dataset_fixtures import make_casme2, make_casme3, make_megc2019, make_smic
from openpyxl import load_workbook
from typer.testing import CliRunner

from app.cli import EXIT_USER_ERROR, app
from mpt_edge.errors import InputError
from train.configs import REGISTRY, MPTConfig
from train.data.sources import read_raw

pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol")
runner = CliRunner()


@pytest.fixture(autouse=True)
def micro_config_and_private_cache(monkeypatch, tmp_path):
    monkeypatch.setitem(
        REGISTRY, "mpt-micro", MPTConfig("mpt-micro", embed_dim=32, depth=1, num_heads=2, adapter_dim=4)
    )
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def megc_root(tmp_path_factory):
    return make_megc2019(tmp_path_factory.mktemp("megc") / "MEGC2019")


@pytest.fixture(scope="module")
def casme3_root(tmp_path_factory):
    return make_casme3(tmp_path_factory.mktemp("casme3") / "CASME3")


# --- readers ------------------------------------------------------------------------------------
def test_casme2_reader_maps_subjects_frames_and_five_classes(megc_root):
    result, classes = read_raw("casme2", megc_root / "CASME2")
    assert classes == ("happiness", "surprise", "disgust", "repression", "others")
    assert [r.subject for r in result.records[:5]] == ["sub01"] * 5
    first = result.records[0]
    assert first.onset == 40 and first.frames[first.apex].name == f"img{first.apex}.jpg"
    assert first.frames[first.apex].parent.parent.parent.name == "CASME2_RAW_selected"
    assert result.notes == ["casme2: excluded by the 5-class protocol: fear 1"]
    assert first.source_row == "CASME2-coding-20140508.xlsx row 2"


def test_samm_reader_finds_the_header_below_the_description_rows(megc_root):
    result, classes = read_raw("samm", megc_root / "SAMM")
    assert {r.subject for r in result.records} == {"006", "007"}
    assert sorted({r.emotion for r in result.records}) == sorted(classes)
    assert result.records[0].frames[result.records[0].onset].name == "006_05000.jpg"
    assert (
        result.records[0].source_row == "SAMM_Micro_FACS_Codes_v2.xlsx row 15"
    )  # 13 description rows, then the header


def test_smic_reader_uses_folders_and_the_middle_frame_as_apex(megc_root):
    result, _ = read_raw("smic", megc_root / "SMIC")
    assert len(result.records) == 6 and {r.subject for r in result.records} == {"s1", "s2"}
    clip = result.records[0]
    assert (clip.onset, clip.apex, clip.offset) == (100, 102, 104) and clip.emotion == "negative"


def test_casme3_reader_separates_expressions_of_one_recording(casme3_root):
    result, classes = read_raw("casme3", casme3_root)
    assert classes == ("negative", "positive", "surprise")
    clips = [r.clip for r in result.records if r.subject == "spNO.1"]
    assert clips[:2] == ["a_10", "a_40"]  # two micro-expressions in recording 'a'
    assert result.notes == ["casme3: excluded by the 3-class protocol: others 3"]


def test_megc2019_composite_maps_to_three_classes_with_prefixed_subjects(megc_root):
    result, classes = read_raw("megc2019", megc_root)
    assert classes == ("negative", "positive", "surprise")
    assert {r.dataset for r in result.records} == {"casme2", "samm", "smic"}
    assert {r.subject.split("_")[0] for r in result.records} == {"casme2", "samm", "smic"}
    by_source = {name: sum(r.dataset == name for r in result.records) for name in ("casme2", "samm", "smic")}
    # CASME II: 2 subjects x (happiness, disgust, surprise, repression) kept, others/fear dropped;
    # SAMM: happiness, anger, surprise, contempt kept, other dropped; SMIC: all 6.
    assert by_source == {"casme2": 8, "samm": 8, "smic": 6}
    emotions = {(r.dataset, r.clip): r.emotion for r in result.records}
    assert emotions[("samm", "006_4_5")] == "negative"  # contempt
    assert emotions[("casme2", "EP04_01f")] == "negative"  # repression


# --- end to end ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_prepare_train_eval_on_the_megc2019_composite(megc_root, tmp_path):
    cache, run = tmp_path / "prepared", tmp_path / "run"
    prepared = runner.invoke(
        app, ["prepare", "megc2019", "--root", str(megc_root), "--out", str(cache), "--face", "none", "--json"]
    )
    assert prepared.exit_code == 0, prepared.output
    summary = json.loads(prepared.output)
    assert summary["clips"] == 22 and sum(summary["alignment"].values()) == 22
    onset = cv2.imread(str(cache / "samm_006" / "006_1_2" / "img1.png"))
    assert onset.shape == (224, 224, 3)
    again = json.loads(
        runner.invoke(
            app, ["prepare", "megc2019", "--root", str(megc_root), "--out", str(cache), "--face", "none", "--json"]
        ).output
    )
    assert again["reused"] == 22  # resumable: nothing decoded twice

    trained = runner.invoke(
        app,
        [
            "train",
            "--dataset",
            "megc2019",
            "--root",
            str(cache),
            "--model",
            "mpt-micro",
            "--protocol",
            "loso",
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--out",
            str(run),
            "--json",
        ],
    )
    assert trained.exit_code == 0, trained.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["complete"] and len(metrics["folds"]) == 6 and metrics["pooled"]["samples"] == 22

    evaluated = runner.invoke(app, ["eval", str(run), "--dataset", "megc2019", "--root", str(cache), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.output.strip().splitlines()[-1])
    assert set(result["per_source"]) == {"casme2", "samm", "smic"}
    assert (
        result["composite"]["confusion"] == metrics["pooled"]["confusion"]
    )  # eval reproduces the run's LOSO predictions
    assert sum(m["samples"] for m in result["per_source"].values()) == 22
    # eval refits the baselines on each fold's training subjects: the run's own baseline predictions
    for name in ("probe", "flow"):
        assert result["baselines"][name]["confusion"] == metrics["baselines"][name]["pooled"]["confusion"], name
    shown = runner.invoke(app, ["eval", str(run), "--dataset", "megc2019", "--root", str(cache)])
    assert shown.exit_code == 0 and "baseline: probe" in shown.output and "baseline: flow" in shown.output


def test_train_and_eval_straight_from_the_distributed_layout(casme3_root, tmp_path):
    run = tmp_path / "run"
    trained = runner.invoke(
        app,
        [
            "train",
            "--dataset",
            "casme3",
            "--root",
            str(casme3_root),
            "--model",
            "mpt-micro",
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--out",
            str(run),
            "--face",
            "none",
            "--json",
        ],
    )
    assert trained.exit_code == 0, trained.output
    caches = list((tmp_path / "cache" / "mpt-edge" / "prepared").iterdir())
    assert len(caches) == 1 and json.loads((caches[0] / "dataset.json").read_text())["alignment_methods"] == {
        "frame": 12
    }
    evaluated = runner.invoke(
        app,
        ["eval", str(run / "best.pt"), "--dataset", "casme3", "--root", str(casme3_root), "--face", "none", "--json"],
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output.strip().splitlines()[-1])["composite"]["samples"] == 12


def test_eval_refuses_a_checkpoint_of_other_classes(megc_root, casme3_root, tmp_path):
    run = tmp_path / "run"
    assert (
        runner.invoke(
            app,
            [
                "train",
                "--dataset",
                "casme3",
                "--root",
                str(casme3_root),
                "--model",
                "mpt-micro",
                "--epochs",
                "1",
                "--out",
                str(run),
                "--face",
                "none",
            ],
        ).exit_code
        == 0
    )
    wrong = runner.invoke(
        app,
        ["eval", str(run / "best.pt"), "--dataset", "casme2", "--root", str(megc_root / "CASME2"), "--face", "none"],
    )
    assert wrong.exit_code == EXIT_USER_ERROR and "predicts ['negative', 'positive', 'surprise']" in wrong.output


# --- malformed input ----------------------------------------------------------------------------
def _edit_casme2_sheet(root, edit):
    path = root / "CASME2-coding-20140508.xlsx"
    book = load_workbook(path)
    edit(book.active)
    book.save(path)


@pytest.mark.parametrize(
    "damage, expected",
    [
        (
            lambda root: (root / "CASME2-coding-20140508.xlsx").unlink(),
            ["no CASME II coding sheet (CASME2-coding-*.xlsx) under", "point --root"],
        ),
        (
            lambda root: _edit_casme2_sheet(root, lambda s: s.cell(1, 5, "Apex")),
            ["lacks column(s) ['ApexFrame']", "CASME2-coding-20140508.xlsx"],
        ),
        (
            lambda root: shutil.rmtree(root / "CASME2_RAW_selected" / "sub02" / "EP03_02f"),
            ["CASME2-coding-20140508.xlsx row 10", "no frame images in"],
        ),
        (
            lambda root: (root / "CASME2_RAW_selected" / "sub01" / "EP01_01f" / "img40.jpg").unlink(),
            ["row 2", "missing frame(s) [40]"],
        ),
        (
            lambda root: _edit_casme2_sheet(root, lambda s: s.cell(3, 5, 999)),
            ["row 3", "apex 999 outside [onset 47, offset 51]"],
        ),
        (lambda root: _edit_casme2_sheet(root, lambda s: s.cell(4, 9, "joy")), ["row 4", "unknown emotion 'joy'"]),
    ],
)
def test_malformed_casme2_is_one_clear_line_naming_file_and_row(tmp_path, damage, expected):
    root = make_casme2(tmp_path / "CASME2", subjects=2)
    damage(root)
    result = runner.invoke(app, ["prepare", "casme2", "--root", str(root), "--out", str(tmp_path / "out")])
    assert result.exit_code == EXIT_USER_ERROR, result.output
    line = result.output.strip()
    assert line.startswith("error:") and "Traceback" not in line
    for part in expected:
        assert part in line.replace("\n", " "), part


def test_unreadable_frame_is_named_and_skip_invalid_continues(tmp_path):
    root = make_casme2(tmp_path / "CASME2", subjects=2)
    (root / "CASME2_RAW_selected" / "sub01" / "EP02_01f" / "img47.jpg").write_bytes(
        b"JFIF but broken"
    )  # an onset frame
    result = runner.invoke(app, ["prepare", "casme2", "--root", str(root), "--out", str(tmp_path / "out")])
    assert result.exit_code == EXIT_USER_ERROR
    assert (
        "cannot decode image" in result.output
        and "img47.jpg" in result.output
        and "CASME2-coding-20140508.xlsx row 3" in result.output
    )
    assert not any(p.name.startswith(".") for p in (tmp_path / "out").rglob("*"))  # no half-written clip left


def test_skip_invalid_drops_bad_rows_and_counts_them(tmp_path):
    root = make_casme2(tmp_path / "CASME2", subjects=2)
    _edit_casme2_sheet(root, lambda s: s.cell(3, 5, 999))
    result = runner.invoke(
        app,
        [
            "prepare",
            "casme2",
            "--root",
            str(root),
            "--out",
            str(tmp_path / "out"),
            "--skip-invalid",
            "--face",
            "none",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["skipped"] == 1 and summary["clips"] == 9


def test_smic_without_clips_and_unknown_dataset_are_clear(tmp_path):
    empty = tmp_path / "SMIC"
    (empty / "HS" / "s1").mkdir(parents=True)
    with pytest.raises(InputError, match="no SMIC-HS folder"):
        read_raw("smic", empty)
    result = runner.invoke(app, ["train", "--dataset", "casme9", "--root", str(tmp_path)])
    assert result.exit_code == EXIT_USER_ERROR and "unknown --dataset 'casme9'" in result.output
    result = runner.invoke(app, ["train", "--dataset", "samm"])
    assert result.exit_code == EXIT_USER_ERROR and "needs --root" in result.output


def test_smic_fixture_layout_is_the_published_one(tmp_path):
    root = make_smic(tmp_path / "SMIC", subjects=(1,))
    assert (
        sorted(p.name for p in (root / "HS" / "s1" / "micro" / "negative" / "s1_ne_01").iterdir())[0]
        == "image000100.bmp"
    )
