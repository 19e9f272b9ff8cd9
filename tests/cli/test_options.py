"""One place for each default, one meaning for each flag: every command's options enumerated from the CLI.

A default the CLI states must be the default of the dataclass the API takes (so ``RunSpec()`` in Python
trains what ``mpt-edge train`` trains); a short flag means one long option in every command; an option
name shared by commands has one default, except the few listed with why."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main

from app.cli import app
from app.commands.common import RENAMED_FLAGS, accept_renamed
from app.demo import DemoOptions
from calibrate.api import DEFAULT_SIZE
from mpt_edge.motion.config import DEFAULT_ALPHA, MotionConfig
from mpt_edge.spotting.offline import SpotOptions
from mpt_edge.spotting.spotter import SpotterConfig
from mpt_edge.stream.pipeline import PipelineConfig
from mpt_edge.stream.sources import OPEN_TIMEOUT_S
from train.options import DataSpec, GridSpec, RunSpec, TrainOptions

RUN, OPTIONS, DATA, GRID, DEMO = RunSpec(), TrainOptions(), DataSpec(), GridSpec(), DemoOptions()

# (command, option) -> the dataclass default it must show
FROM_DATACLASSES = {
    ("train", "--epochs"): OPTIONS.epochs,
    ("train", "--batch-size"): OPTIONS.batch_size,
    ("train", "--lr"): OPTIONS.lr,
    ("train", "--weight-decay"): OPTIONS.weight_decay,
    ("train", "--seed"): OPTIONS.seed,
    ("train", "--augment"): OPTIONS.augment,
    ("train", "--class-balanced"): OPTIONS.class_balanced,
    ("train", "--readout-lr-scale"): OPTIONS.readout_lr_scale,
    ("train", "--train-backbone"): OPTIONS.train_backbone,
    ("train", "--model"): RUN.model,
    ("train", "--protocol"): RUN.protocol,
    ("train", "--test-fraction"): RUN.test_fraction,
    ("train", "--val-subjects"): RUN.val_subjects,
    ("train", "--motion-prompts"): RUN.motion_prompts,
    ("train", "--prompt-readout"): RUN.prompt_readout,
    ("train", "--baselines"): RUN.baselines,
    ("train", "--alpha"): DEFAULT_ALPHA,
    ("train", "--prompt-variant"): MotionConfig.prompt_variant,
    ("train", "--vit-input"): MotionConfig.vit_input,
    ("train", "--read-mirrored"): MotionConfig.read_mirrored,
    ("train", "--token-grid"): MotionConfig.token_grid,
    ("train", "--token-sigma"): MotionConfig.sigma_patches,
    ("train", "--dataset"): DATA.dataset,
    ("train", "--face"): DATA.face_detector,
    ("train", "--skip-invalid"): DATA.skip_invalid,
    ("train", "--allow-unaligned"): DATA.allow_unaligned,
    ("train", "--ablate-splits"): GRID.splits,
    ("train", "--ablate-epochs"): GRID.epochs,
    ("train", "--ablate-loso"): GRID.loso_cells,
    ("train", "--ablate-alphas"): ",".join(f"{a:g}" for a in GRID.alphas),
    ("train", "--ablate-variants"): ",".join(GRID.variants),
    ("train", "--ablate-vit-inputs"): ",".join(GRID.vit_inputs),
    ("eval", "--dataset"): DATA.dataset,
    ("eval", "--face"): DATA.face_detector,
    ("calibrate", "--calibration-size"): DEFAULT_SIZE,
    ("build", "--calibration-size"): DEFAULT_SIZE,
    ("calibrate", "--dataset"): DATA.dataset,
    ("build", "--dataset"): DATA.dataset,
    ("run", "--detect-every"): PipelineConfig.detect_every,
    ("run", "--face"): PipelineConfig.face_detector,
    ("run", "--open-timeout"): OPEN_TIMEOUT_S,
    ("spot", "--detect-every"): SpotOptions.detect_every,
    ("spot", "--face"): SpotOptions.face_detector,
    ("spot", "--me-threshold"): SpotterConfig.me_threshold,
    ("run", "--me-threshold"): SpotterConfig.me_threshold,
    ("demo", "--epochs"): DEMO.epochs,
    ("demo", "--target"): DEMO.target,
    ("demo", "--events"): DEMO.events,
    ("magnify", "--alpha"): DEFAULT_ALPHA,
}

# Option names that mean different things in different commands, each with why.
DIFFERENT_ON_PURPOSE = {
    "--out": "each command's own product (a run folder, a model, a bundle, a picture ...)",
    "--target": "required by build; the demo picks one",
    "--events": "run: a file for the events; demo: how many micro-expressions the video holds",
    "--size": "magnify: resize the pictures; calibrate: the old name of --calibration-size",
    "--dataset": "spot scores a long-video set (none by default); the others read clips",
    "--face": "faces detect tries one named detector; the rest pick the best installed (auto)",
    "--synthetic-preset": "eval: the set the run was trained on unless told",
    "--seconds": "bench: how long to measure; no other command times",
}


def _commands() -> dict[str, Any]:
    """Every command (``faces install`` ...) as the click object typer builds (typer vendors click)."""
    root: Any = typer.main.get_command(app)
    found = {}
    for name, command in root.commands.items():
        if hasattr(command, "commands"):
            found.update({f"{name} {sub}": c for sub, c in command.commands.items()})
        else:
            found[name] = command
    return found


def _options(command: Any) -> list[Any]:
    return [p for p in command.params if p.param_type_name == "option"]


def test_every_command_default_is_its_dataclass_default():
    commands = _commands()
    for (name, flag), expected in FROM_DATACLASSES.items():
        option = next((o for o in _options(commands[name]) if flag in o.opts), None)
        assert option is not None, f"{name} has no {flag}"
        assert option.default == expected, (
            f"mpt-edge {name} {flag} defaults to {option.default!r}, the API to {expected!r}"
        )


def test_python_defaults_train_what_the_cli_trains():
    assert RunSpec().options.epochs == TrainOptions().epochs == DEMO.epochs  # RunSpec() no longer trains 20 epochs


def test_a_short_flag_means_one_option_everywhere():
    meaning: dict[str, set[str]] = {}
    for command in _commands().values():
        for option in _options(command):
            shorts = [o for o in option.opts if not o.startswith("--")]
            longs = [o for o in option.opts if o.startswith("--")]
            for short in shorts:
                meaning.setdefault(short, set()).add(longs[0])
    clashes = {short: longs for short, longs in meaning.items() if len(longs) > 1}
    assert not clashes, f"short flags with several meanings: {clashes}"
    assert meaning["-b"] == {"--bundle"} and meaning["-o"] == {"--out"}


def test_a_shared_option_name_has_one_default():
    defaults: dict[str, dict[str, object]] = {}
    for name, command in _commands().items():
        for option in _options(command):
            for flag in option.opts:
                if flag.startswith("--") and flag not in DIFFERENT_ON_PURPOSE:
                    defaults.setdefault(flag, {})[name] = option.default
    drifted = {
        flag: by_command for flag, by_command in defaults.items() if len({repr(v) for v in by_command.values()}) > 1
    }
    assert not drifted, f"one option name, several defaults: {drifted}"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["calibrate", "m.onnx", "-b", "tensorrt"], ["calibrate", "m.onnx", "--backend", "tensorrt"]),
        (
            ["--verbose", "calibrate", "-b", "openvino", "m.onnx"],
            ["--verbose", "calibrate", "--backend", "openvino", "m.onnx"],
        ),
        (["run", "-b", "bundle"], ["run", "-b", "bundle"]),
    ],
)
def test_renamed_flags_still_work(argv, expected, capsys):
    assert accept_renamed(argv) == expected
    noted = capsys.readouterr().err
    assert ("is now" in noted) == (argv != expected)
    assert ("calibrate", "-b") in RENAMED_FLAGS
