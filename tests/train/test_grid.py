"""``mpt-edge train --ablate``: the motion prompt grid runs every cell on every split, reports mean ±
std beside the baselines (table, JSON, plot), runs LOSO for the best cells, and resumes without
retraining what finished."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from app.cli import EXIT_USER_ERROR, app
from app.commands.train import print_grid_summary
from train.api import GridResult
from train.configs import REGISTRY, MPTConfig
from train.grid import GridSpec, grid_cells

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore:Detected pickle protocol"
)
runner = CliRunner()
MICRO = MPTConfig("mpt-micro-grid", embed_dim=32, depth=1, num_heads=2, adapter_dim=4)
GRID = [
    "--ablate",
    "--ablate-alphas",
    "0,4",
    "--ablate-variants",
    "lk,flow",
    "--ablate-vit-inputs",
    "apex,magnified",
    "--ablate-splits",
    "2",
    "--ablate-epochs",
    "1",
    "--ablate-loso",
    "1",
]


def test_cells_skip_the_duplicate_of_alpha_zero():
    names = [
        c.name for c in grid_cells(GridSpec(alphas=(0.0, 2.0), variants=("lk",), vit_inputs=("apex", "magnified")))
    ]
    assert names == ["lk-apex-a0", "lk-apex-a2", "lk-magnified-a2", "no-motion-prompts"]
    assert len(grid_cells(GridSpec())) == 4 * 9 + 1  # lk, patch, flow, strain


def test_bad_grid_options_are_one_line(tmp_path):
    for option, value, message in (
        ("--ablate-variants", "lk,optical", "optical"),
        ("--ablate-alphas", "0,x", "'x' is not a number"),
        ("--ablate-alphas", "0,-2", "alphas"),
    ):
        result = runner.invoke(app, ["train", "--ablate", option, value, "--out", str(tmp_path / "g")])
        assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_grid_reports_every_cell_with_baselines_runs_loso_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, MICRO.name, MICRO)
    args = [
        "train",
        "--root",
        str(tmp_path / "data"),
        "--synthetic-subjects",
        "4",
        "--synthetic-clips",
        "2",
        "--model",
        MICRO.name,
        *GRID,
        "--out",
        str(tmp_path / "grid"),
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    cells = summary["cells"]
    assert set(cells) == {
        "lk-apex-a0",
        "lk-apex-a4",
        "lk-magnified-a4",
        "flow-apex-a0",
        "flow-apex-a4",
        "flow-magnified-a4",
        "no-motion-prompts",
    }
    for row in cells.values():
        assert len(row["model"]["values"]) == 2 and 0.0 <= row["model"]["mean"] <= 1.0
        assert len(row["probe"]["values"]) == 2 and len(row["flow"]["values"]) == 2
    for name in cells:  # every split of every cell is a real run with its own design recorded
        metrics = json.loads((tmp_path / "grid" / "ablation" / name / "seed1" / "metrics.json").read_text())
        motion = metrics["provenance"]["motion_config"]
        if name != "no-motion-prompts":
            variant, vit_input, alpha = name.split("-")
            assert (motion["prompt_variant"], motion["vit_input"], motion["alpha"]) == (
                variant,
                vit_input,
                float(alpha[1:]),
            )
        assert metrics["provenance"]["options"]["epochs"] == 1 and metrics["provenance"]["options"]["augment"] is False
    best = summary["ranking"][0]
    assert list(summary["loso"]) == [best] and summary["loso"][best]["folds"] == 4
    # the API's typed reading of the same table, and the command's printed summary made from it
    written = json.loads((tmp_path / "grid" / "ablation.json").read_text())
    typed = GridResult(tmp_path / "grid", 0.0, written)
    assert typed.ranking[0] == best and typed.loso[best].folds == 4 and typed.splits == 2
    assert typed.cells[best].model.mean == pytest.approx(cells[best]["model"]["mean"])
    assert len(typed.cells["flow-apex-a4"].flow.values) == 2 and typed.cells["lk-apex-a4"].alpha == 4.0
    printed = io.StringIO()
    print_grid_summary(Console(file=printed, width=200), typed)
    text = printed.getvalue()
    assert f"LOSO {best}: UF1 {typed.loso[best].model:.3f}" in text and "no-motion" not in text
    table = (tmp_path / "grid" / "ablation.md").read_text()
    assert (
        "| lk / magnified | " in table
        and "α = 4" in table
        and "Leave-one-subject-out" in table
        and "Flow baseline" in table
    )
    assert (tmp_path / "grid" / "ablation.png").stat().st_size > 10_000
    # resume: nothing is trained again, the report is the same
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "grid" / "ablation").rglob("best.pt")}
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0, again.output
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert json.loads(again.output.strip().splitlines()[-1])["cells"] == cells
    # without --resume an existing grid is not overwritten
    refused = runner.invoke(app, [arg for arg in args if arg != "--json"])
    assert refused.exit_code == EXIT_USER_ERROR and "--resume" in refused.output
