"""Training: schedule and loss helpers, folds, checkpoints (round trip, corrupt, mismatched), resume
that reproduces the uninterrupted run, and `mpt-edge train` end to end on a tiny synthetic set."""

from __future__ import annotations

import csv
import io
import json
import pickle

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from app.cli import EXIT_USER_ERROR, app
from mpt_edge.errors import MptEdgeError
from mpt_edge.motion.config import DEFAULT_ALPHA, MotionConfig
from train.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint
from train.configs import REGISTRY, MPTConfig, get_config
from train.data.pairs import PairSet, augment_pair, encode_pairs, load_pairs
from train.data.synthetic_folder import SyntheticSpec, ensure_synthetic, read_synthetic
from train.fit import FoldData, FoldPlace, FoldTrainer, TrainOptions, class_weights, predict, warmup_cosine
from train.metrics import summarize
from train.model import MPT
from train.options import RunSpec
from train.protocol import make_folds, select_folds

FEATURES = MotionConfig().num_features  # of the default prompt variant

pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol")
MICRO = MPTConfig("mpt-micro", embed_dim=32, depth=1, num_heads=2, adapter_dim=4)
runner = CliRunner()


@pytest.fixture(autouse=True)
def micro_config(monkeypatch):
    """A one-block, 32-wide MPT: the full layout at a fraction of the cost."""
    monkeypatch.setitem(REGISTRY, "mpt-micro", MICRO)


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    return ensure_synthetic(
        SyntheticSpec(subjects=3, clips_per_class=2, classes=3, size=224), tmp_path_factory.mktemp("data") / "syn"
    )


@pytest.fixture(scope="session")
def pairs(synthetic_root):
    _, result = read_synthetic(synthetic_root)
    return load_pairs(result.records, 224)


def trainer(pairs, folder, epochs=3, reporter=None, motion=None, **option_overrides):
    torch.manual_seed(0)
    model = MPT(get_config("mpt-micro"), motion)
    subjects = np.array(pairs.subjects)
    options = TrainOptions(epochs=epochs, batch_size=4, **option_overrides)
    data = FoldData(pairs, np.flatnonzero(subjects != "sub03"), np.flatnonzero(subjects == "sub03"))
    place = FoldPlace(folder, 0, ["negative", "positive", "surprise"], torch.device("cpu"), identity={"test": 1})
    return FoldTrainer(model, data, options, place, reporter=reporter)


# --- helpers ------------------------------------------------------------------------------------
def test_warmup_then_cosine_to_zero():
    values = [warmup_cosine(step, 100, 10) for step in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values[10:], values[11:]))
    assert warmup_cosine(100, 100, 10) == pytest.approx(0.0)


def test_class_weights_are_inverse_frequency():
    weights = class_weights(np.array([0, 0, 0, 1]), 3)
    assert weights.tolist() == pytest.approx([4 / 9, 4 / 3, 0.0])


def test_augmentation_moves_onset_and_apex_together(pairs):
    onset, apex = pairs.onsets[0], pairs.apexes[0]
    same_onset, _ = augment_pair(onset, onset, np.random.default_rng(5))
    aug_onset, aug_apex = augment_pair(onset, apex, np.random.default_rng(5))
    np.testing.assert_array_equal(same_onset, aug_onset)  # one transform for both frames
    assert not np.array_equal(aug_onset, onset)
    # Identical frames stay identical: augmentation never invents motion.
    a, b = augment_pair(onset, onset.copy(), np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    images, motion = encode_pairs(pairs, [0, 1], MPT(get_config("mpt-micro")).motion_config)
    assert images.shape == (2, 3, 224, 224) and motion.shape == (2, 49, FEATURES)


# --- folds --------------------------------------------------------------------------------------
def test_folds_cover_subjects_and_shard():
    subjects = [f"sub{i:02d}" for i in range(1, 9)] * 2
    loso = make_folds(subjects, "loso")
    assert [f.test_subjects for f in loso] == [(s,) for s in sorted(set(subjects))]
    holdout = make_folds(subjects, "holdout", test_fraction=0.25, seed=1)
    assert len(holdout[0].test_subjects) == 2 and holdout == make_folds(subjects, "holdout", test_fraction=0.25, seed=1)
    shards = [select_folds(loso, f"{k}/3") for k in (1, 2, 3)]
    assert sorted(f.index for shard in shards for f in shard) == list(range(8))
    assert [f.name for f in select_folds(loso, "0,sub08,2-3")] == ["sub01", "sub03", "sub04", "sub08"]
    with_val = make_folds(subjects, "loso", val_subjects=2)
    assert all(len(f.val_subjects) == 2 and f.test_subjects[0] not in f.val_subjects for f in with_val)
    for bad in ("4/3", "x", "9", "a/b"):
        with pytest.raises(MptEdgeError):
            select_folds(loso, bad)
    with pytest.raises(MptEdgeError, match="at least 2 subjects"):
        make_folds(["sub01"], "loso")


# --- checkpoints --------------------------------------------------------------------------------
def test_checkpoint_round_trip_restores_model_and_configs(tmp_path):
    torch.manual_seed(1)
    model = MPT(get_config("mpt-micro", num_classes=5))
    with torch.no_grad():
        model.head.weight.normal_()
    path = save_checkpoint(tmp_path / "model.pt", model, ["a", "b", "c", "d", "e"], note="x")
    loaded, payload = load_model(path)
    assert loaded.cfg == model.cfg and loaded.motion_config == model.motion_config
    assert payload["class_names"] == ["a", "b", "c", "d", "e"] and payload["note"] == "x"
    apex, motion = torch.randn(2, 3, 224, 224), torch.randn(2, 49, FEATURES)
    model.eval()
    torch.testing.assert_close(loaded(apex, motion), model(apex, motion), rtol=0, atol=0)


def test_corrupt_foreign_and_mismatched_checkpoints_are_one_clear_error(tmp_path):
    model = MPT(get_config("mpt-micro"))
    good = save_checkpoint(tmp_path / "good.pt", model, ["n", "p", "s"])
    cases = {}
    cases["truncated.pt"] = good.read_bytes()[:5000]
    cases["text.pt"] = b"hello"
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)  # a bare state dict: not our format
    cases["bare.pt"] = buffer.getvalue()
    payload = read_checkpoint(good)
    payload["format_version"] = 99
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    cases["future.pt"] = buffer.getvalue()
    payload = read_checkpoint(good)
    payload["state_dict"]["head.weight"] = torch.zeros(7, 32)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    cases["mismatch.pt"] = buffer.getvalue()
    cases["evil.pt"] = pickle.dumps(Exploit())
    expected = {
        "truncated.pt": "corrupt",
        "text.pt": "corrupt",
        "bare.pt": "not an mpt-edge checkpoint",
        "future.pt": "format version 99",
        "mismatch.pt": "does not match model mpt-micro",
        "evil.pt": "corrupt",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(CheckpointError) as info:
            load_model(path)
        assert expected[name] in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value), name
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nope.pt")


class Exploit:
    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path("pwned"),))


# --- fitting and resume -------------------------------------------------------------------------
class StopAfter:
    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def epoch_started(self, epoch, epochs, batches):
        pass

    def batch_done(self, loss):
        pass

    def epoch_done(self, record):
        if record["epoch"] == self.epochs:
            raise KeyboardInterrupt  # a kill right after the epoch's checkpoint was written


def test_resume_after_a_kill_equals_the_uninterrupted_run(pairs, tmp_path):
    straight = trainer(pairs, tmp_path / "a", augment=True).fit()  # augmentation on: its randomness must resume too
    interrupted = trainer(pairs, tmp_path / "b", reporter=StopAfter(2), augment=True)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    assert read_checkpoint(tmp_path / "b" / "last.pt")["epoch"] == 2
    resumed_trainer = trainer(pairs, tmp_path / "b", augment=True)
    resumed = resumed_trainer.fit(resume=True)
    assert resumed.history == straight.history
    assert resumed.y_pred == straight.y_pred and resumed.scores == straight.scores
    a = read_checkpoint(tmp_path / "a" / "last.pt")["state_dict"]
    b = read_checkpoint(tmp_path / "b" / "last.pt")["state_dict"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_training_starts_from_the_linear_probe_of_the_prompts(pairs, tmp_path):
    """Before any gradient step the model's logits are the probe's decision function (read-out
    solved by train.baselines.fit_classifier, [CLS] head at zero). With augmentation on, the
    read-out is solved on the clean plus augmented prompts instead, deterministically."""
    from train.baselines import fit_classifier

    fold = trainer(pairs, tmp_path, epochs=1, augment=False)
    fold.prepare()  # the starting point is set before any epoch
    images, motion = encode_pairs(pairs, fold.train_idx, fold.motion_config)
    groups = [pairs.subjects[i] for i in fold.train_idx]
    fitted, c = fit_classifier(motion.reshape(len(motion), -1), pairs.labels[fold.train_idx], groups)
    fold.model.eval()
    with torch.no_grad():
        logits = fold.model(torch.from_numpy(images), torch.from_numpy(motion)).numpy()
    np.testing.assert_allclose(logits, fitted.decision_function(motion.reshape(len(motion), -1)), atol=1e-4)
    assert fold.readout_c == c
    augmented = []
    for k in range(2):
        aug = trainer(pairs, tmp_path / f"aug{k}", epochs=1, augment=True)
        aug.prepare()
        augmented.append(aug.model.prompt_readout.weight)
    assert torch.equal(augmented[0], augmented[1]) and not torch.allclose(
        augmented[0], fold.model.prompt_readout.weight
    )


def test_a_model_that_reads_clips_both_ways_reports_the_mean_of_both_readings(pairs, tmp_path):
    """The held-out scores (and so every UF1 a run reports) are what the device computes: the mean softmax
    of the clip as it is and of the clip mirrored, each encoded afresh from the flipped frames."""
    fold = trainer(pairs, tmp_path, epochs=1, motion=MotionConfig(read_mirrored=True))
    result = fold.fit()
    flipped = PairSet(
        pairs.onsets[:, :, ::-1].copy(), pairs.apexes[:, :, ::-1].copy(), pairs.labels, pairs.subjects, pairs.keys
    )
    model, _ = load_model(tmp_path / "best.pt")
    assert model.motion_config.read_mirrored is True
    each = [
        predict(model, *(torch.from_numpy(a) for a in encode_pairs(source, fold.eval_idx, model.motion_config)), True)
        for source in (pairs, flipped)
    ]
    assert not torch.allclose(each[0], each[1], atol=1e-3)
    np.testing.assert_allclose(result.scores, ((each[0] + each[1]) / 2).numpy(), atol=1e-5)


def test_resume_refuses_a_checkpoint_of_another_run(pairs, tmp_path):
    trainer(pairs, tmp_path, epochs=1).fit()
    other = trainer(pairs, tmp_path, epochs=1)
    other.identity = {"test": 2}
    with pytest.raises(CheckpointError, match="belongs to a different run"):
        other.fit(resume=True)


def test_training_updates_only_trainable_parameters(pairs, tmp_path):
    fold = trainer(pairs, tmp_path, epochs=1)
    fold.prepare()  # the solved heads are the starting point; fine-tuning moves only what is trainable
    before = {k: v.clone() for k, v in fold.model.state_dict().items()}
    fold.fit()
    after = fold.model.state_dict()
    changed = {name for name, _ in fold.model.named_parameters() if not torch.equal(before[name], after[name])}
    trainable = {name for name, p in fold.model.named_parameters() if p.requires_grad}
    assert changed <= trainable  # the frozen backbone did not move
    assert {
        "head.weight",
        "motion_embed.token_proj",
        "motion_embed.feature_gain",
        "blocks.0.adapter.cls.up.weight",
    } <= changed


# --- the command --------------------------------------------------------------------------------
def train_args(root, out, *extra):
    return [
        "train",
        "--root",
        str(root),
        "--synthetic-subjects",
        "3",
        "--synthetic-clips",
        "2",
        "--model",
        "mpt-micro",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--out",
        str(out),
        *extra,
    ]


def test_train_command_writes_metrics_plots_and_a_loadable_best_checkpoint(synthetic_root, pairs, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, train_args(synthetic_root, out, "--json"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    metrics = json.loads((out / "metrics.json").read_text())
    assert summary["runs"]["mpt"]["uf1"] == metrics["pooled"]["uf1"]
    assert (
        metrics["complete"] and metrics["pooled"]["samples"] == 6 and sum(map(sum, metrics["pooled"]["confusion"])) == 6
    )
    assert (out / "confusion.png").stat().st_size > 1000 and (out / "curves.png").stat().st_size > 1000
    model, payload = load_model(out / "best.pt")
    assert payload["class_names"] == ["negative", "positive", "surprise"] and model.cfg.name == "mpt-micro"
    # Baselines on the same held-out clips, in metrics.json, the --json summary and a plot.
    for name in ("probe", "flow", "strain"):
        pooled = metrics["baselines"][name]["pooled"]
        assert pooled["samples"] == 6 and summary["runs"]["mpt"]["baselines"][name]["uf1"] == pooled["uf1"]
    assert (out / "baselines.png").stat().st_size > 1000
    # Provenance: the resolved alpha and motion settings, preset, seed and split.
    provenance = metrics["provenance"]
    assert (
        metrics["alpha"] == DEFAULT_ALPHA == provenance["motion_config"]["alpha"]
        and provenance["motion_config"]["token_grid"] == 7
    )
    assert provenance["data"]["synthetic"]["preset"] == "easy" and provenance["seed"] == 0
    held_out = provenance["split"]["holdout"]["test"]
    assert len(held_out) == 1 and provenance["model_config"]["name"] == "mpt-micro"
    # predictions.csv recomputes the reported UF1 outside the tool.
    rows = list(csv.DictReader(io.StringIO((out / "predictions.csv").read_text())))
    assert len(rows) == 6 and {r["subject"] for r in rows} == set(held_out) and rows[0]["dataset"] == "synthetic"
    names = ["negative", "positive", "surprise"]
    recomputed = summarize([names.index(r["true"]) for r in rows], [names.index(r["predicted"]) for r in rows], 3)
    assert recomputed.uf1 == pytest.approx(metrics["pooled"]["uf1"])
    truth = [names.index(r["true"]) for r in rows]
    flow_uf1 = summarize(truth, [names.index(r["flow_predicted"]) for r in rows], 3).uf1
    assert flow_uf1 == pytest.approx(metrics["baselines"]["flow"]["pooled"]["uf1"])
    assert sum(float(r[f"score_{n}"]) for n in names for r in rows[:1]) == pytest.approx(1.0, abs=1e-4)
    # The model standardised its prompts with the training subjects' statistics (saved with it).
    train_features = encode_pairs(
        pairs, [i for i, s in enumerate(pairs.subjects) if s not in held_out], model.motion_config
    )[1]
    np.testing.assert_allclose(
        model.motion_embed.feature_mean.numpy(), train_features.mean(axis=0), rtol=1e-4, atol=1e-7
    )
    # Same folder again: refused without --resume; with --resume the finished fold is skipped.
    again = runner.invoke(app, train_args(synthetic_root, out))
    assert again.exit_code == EXIT_USER_ERROR and "--resume" in again.output
    resumed = runner.invoke(app, train_args(synthetic_root, out, "--resume"))
    assert resumed.exit_code == 0 and "already finished" in resumed.output
    changed = runner.invoke(app, train_args(synthetic_root, out, "--resume", "--lr", "0.1"))
    assert changed.exit_code == EXIT_USER_ERROR and "different options" in changed.output


def test_loso_shards_pool_into_one_metrics_file(synthetic_root, tmp_path):
    out = tmp_path / "loso"
    first = runner.invoke(app, train_args(synthetic_root, out, "--protocol", "loso", "--folds", "1/2", "--epochs", "1"))
    assert first.exit_code == 0, first.output
    partial = json.loads((out / "metrics.json").read_text())
    assert partial["folds_finished"] == 2 and not partial["complete"]
    second = runner.invoke(
        app, train_args(synthetic_root, out, "--protocol", "loso", "--folds", "2/2", "--epochs", "1")
    )
    assert second.exit_code == 0, second.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["complete"] and sorted(metrics["folds"]) == ["sub01", "sub02", "sub03"]
    assert (
        metrics["pooled"]["samples"] == 18 and not (out / "best.pt").exists()
    )  # LOSO evaluates; `--protocol all` deploys
    assert metrics["baselines"]["flow"]["pooled"]["samples"] == 18 and sorted(
        metrics["baselines"]["probe"]["folds"]
    ) == ["sub01", "sub02", "sub03"]


def test_the_prompt_token_grid_is_chosen_from_the_cli_and_travels_in_the_checkpoint(synthetic_root, tmp_path):
    out = tmp_path / "fine"
    extra = ("--token-grid", "14", "--token-sigma", "0.5", "--no-baselines", "--epochs", "1")
    result = runner.invoke(app, train_args(synthetic_root, out, *extra))
    assert result.exit_code == 0, result.output
    model, _ = load_model(out / "best.pt")
    assert (model.motion_config.token_grid, model.motion_config.sigma_patches, model.motion_config.num_tokens) == (
        14,
        0.5,
        196,
    )
    identity = json.loads((out / "run.json").read_text())["identity"]
    assert identity["token_grid"] == 14 and identity["sigma_patches"] == 0.5
    assert RunSpec(token_grid=14, token_sigma=0.5).motion_overrides() == {"token_grid": 14, "sigma_patches": 0.5}


def test_no_baselines_option_skips_them(synthetic_root, tmp_path):
    out = tmp_path / "plain"
    result = runner.invoke(app, train_args(synthetic_root, out, "--no-baselines", "--epochs", "1"))
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert (
        metrics["baselines"] == {}
        and not (out / "baselines.png").exists()
        and metrics["provenance"]["baselines"] is False
    )


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model", "mpt-huge"], "unknown model config"),
        (["--dataset", "casme9"], "unknown --dataset"),
        (["--protocol", "kfold"], "unknown protocol"),
        (["--alpha", "-2"], "alpha=-2.0 is invalid"),
        (["--epochs", "0"], "epochs=0"),
        (["--device", "cuda"] if not torch.cuda.is_available() else ["--device", "tpu"], "--device"),
        (["--backbone-weights", "/nonexistent/vit.safetensors"], "do not exist"),
        (["--folds", "7"], "fold 7 does not exist"),
        (["--token-grid", "15"], "token_grid=15 (need 1..14)"),
        (["--token-sigma", "0"], "sigma_patches and flow_eps must be > 0"),
    ],
)
def test_train_bad_options_are_one_line(synthetic_root, tmp_path, extra, message):
    result = runner.invoke(app, train_args(synthetic_root, tmp_path / "bad", *extra))
    assert result.exit_code == EXIT_USER_ERROR, result.output
    assert message in result.output and "Traceback" not in result.output


def test_cli_rejects_an_unknown_preset(tmp_path):
    result = runner.invoke(app, ["train", "--synthetic-preset", "medium", "--out", str(tmp_path / "r")])
    assert (
        result.exit_code == EXIT_USER_ERROR
        and "unknown synthetic preset" in result.output
        and "Traceback" not in result.output
    )


@pytest.mark.slow
def test_train_runs_under_torchrun_ddp(synthetic_root, tmp_path):
    """Two gloo ranks on CPU: both train, rank 0 alone writes, and the result is a normal run."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "ddp"
    entry = Path(__file__).parents[1] / "helpers" / "ddp_entry.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(entry),
        *train_args(synthetic_root, out, "--json", "--device", "cpu"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[:3000]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["complete"] and metrics["pooled"]["samples"] == 6
    assert len([line for line in done.stdout.splitlines() if line.startswith("{")]) == 1  # one summary: rank 0's
    load_model(out / "best.pt")


def test_a_run_started_from_python_resumes_from_the_cli(tmp_path):
    """The finding (issue "The house"): RunSpec() stored alpha None, the CLI alpha 2.0, so `mpt-edge train
    --resume` refused a run the API had started ("different alpha") — also one 0.2.0 wrote."""
    import json

    from mpt_edge.motion.config import DEFAULT_ALPHA
    from train.options import RunSpec
    from train.runner import check_run_folder

    data = {"dataset": "synthetic"}
    api, cli = RunSpec().identity(data), RunSpec(alpha=DEFAULT_ALPHA).identity(data)
    assert api == cli
    old = {**api, "alpha": None}  # as 0.2.0 wrote it
    for stored in (api, old):
        (tmp_path / "run.json").write_text(json.dumps({"identity": stored}))
        check_run_folder(tmp_path, cli, same_run_allowed=True)  # no "different alpha"
    with pytest.raises(Exception, match="different alpha"):
        check_run_folder(tmp_path, RunSpec(alpha=8.0).identity(data), same_run_allowed=True)
