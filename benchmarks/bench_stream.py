"""The streaming pipeline at camera resolutions and with a moving head, printed as JSON: frames per
second end to end (and the same video's decode-only rate), per-stage milliseconds, events found /
labelled right / false, crop changes and follows, suppressed head movements, apex->event latency
and resident memory sampled through the run (flat memory is the claim: bounded queue, ring buffers).

    python benchmarks/bench_stream.py --bundle bundles/ov --size demo,720p,1080p --head-motion moves --face
    haar,blazeface

Several ``--face`` detectors run on the same videos in one run, interleaved per video (sizes x
detectors), so their fps are comparable.

Each video (the synthetic face composited on a ``--size`` canvas, enlarged 1/2/3/6x for
demo/720p/1080p/4k, micro-expressions every ``--every`` frames, head motion per ``--head-motion``) is
rendered once into ``--cache`` and reused. Replay is as fast as possible (a file source never drops
frames), so fps is what the pipeline sustains on this machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def decode_fps(video: Path) -> float:
    """Frames/s of decoding the video alone (OpenCV, same backend as the pipeline's source)."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    count, start = 0, time.perf_counter()
    while capture.grab() and capture.retrieve()[0]:
        count += 1
    capture.release()
    return count / (time.perf_counter() - start)


def score(found: list[dict[str, Any]], truth: list[Any], names: list[str], tolerance: int = 3) -> dict[str, int]:
    matched = sum(any(abs(e["frame_apex"] - t.apex) <= tolerance for e in found) for t in truth)
    right = sum(
        any(abs(e["frame_apex"] - t.apex) <= tolerance and e["label"] == names[t.label] for e in found) for t in truth
    )
    false = sum(not any(abs(e["frame_apex"] - t.apex) <= tolerance for t in truth) for e in found)
    return {"true_events": len(truth), "found": matched, "labels_right": right, "false_events": false}


def render(
    size: str, head: str, frames: int, every: int, cache: Path, seed: int = 100, move_every: int = 47
) -> tuple[Path, list[Any], Any]:
    """``every`` 0: a neutral face, no micro-expression (false events are all there is to count)."""
    from train.data.synthetic_video import CANVASES, head_path, plan_events, render_stream, write_video

    width, height, scale = CANVASES[size]
    truth = plan_events(frames, [k % 3 for k in range(frames // every)], gap=every) if every else []
    path = head_path(frames, head, seed=seed + 1, every=move_every, scale=scale)
    video = (
        cache
        / f"mpt-edge-stream-{size}-{head}-{frames}-{every}-{seed}{'' if move_every == 47 else f'-m{move_every}'}.avi"
    )
    if not video.is_file():
        staged = video.with_suffix(".partial.avi")
        write_video(
            staged, render_stream(truth, frames, frame_size=(width, height), seed=seed, face_scale=scale, head=path)
        )
        os.replace(staged, video)
    return video, truth, path


def bench_one(bundle: Path, video: Path, truth: list[Any], face: str) -> dict[str, Any]:
    from mpt_edge.bundle import load_bundle
    from mpt_edge.stream.pipeline import PipelineConfig
    from mpt_edge.stream.run import RunOptions, run_stream

    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            samples.append(rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    events = io.StringIO()
    summary = run_stream(
        bundle, str(video), events, RunOptions(pipeline=PipelineConfig(face_detector=face)), log=lambda m: None
    )
    stop.set()
    sampler.join()
    found = [json.loads(line) for line in events.getvalue().splitlines()]
    tenth = max(1, len(samples) // 10)
    return {
        **summary.as_dict(),
        **score(found, truth, load_bundle(bundle).class_names),
        "rss_mb": {
            "first_10pct_max": round(max(samples[:tenth]), 1) if samples else None,
            "last_10pct_max": round(max(samples[-tenth:]), 1) if samples else None,
            "max": round(max(samples), 1) if samples else None,
            "samples": len(samples),
        },
    }


def main() -> None:
    from train.data.synthetic_video import CANVASES, HEAD_MOTIONS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--size", default="demo", help=f"comma-separated canvases: {', '.join(CANVASES)}")
    parser.add_argument("--head-motion", default="none", choices=HEAD_MOTIONS)
    parser.add_argument("--frames", type=int, default=1800)
    parser.add_argument(
        "--every", type=int, default=60, help="a micro-expression every N frames (0: a neutral face throughout)"
    )
    parser.add_argument(
        "--move-every", type=int, default=47, help="--head-motion moves: a quick move about every N frames"
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp"), help="where rendered videos are kept")
    parser.add_argument("--face", default="haar,blazeface", help="comma-separated detectors, each run on every video")
    args = parser.parse_args()

    sizes = [s for s in args.size.split(",") if s]
    unknown = [s for s in sizes if s not in CANVASES]
    if unknown:
        raise SystemExit(f"--size {','.join(unknown)}: choose from {', '.join(CANVASES)}")
    faces = [f for f in args.face.split(",") if f]
    results: dict[str, Any] = {}
    for size in sizes:
        video, truth, path = render(
            size, args.head_motion, args.frames, args.every, args.cache, move_every=args.move_every
        )
        decode = round(decode_fps(video), 1)
        results[size] = {}
        for face in faces:
            result = bench_one(args.bundle, video, truth, face)
            result["decode_only_fps"] = decode
            result["fps_vs_decode"] = round(result["fps"] / decode, 3) if result["fps"] else None
            result["video"] = {
                "path": str(video),
                "canvas": CANVASES[size][:2],
                "face_scale": CANVASES[size][2],
                "quick_head_moves": len(path.moves),
            }
            results[size][face] = result
        if len(faces) > 1:
            base = results[size][faces[0]]["fps"]
            for face in faces[1:]:
                results[size][face][f"fps_vs_{faces[0]}"] = (
                    round(results[size][face]["fps"] / base, 3) if base else None
                )
    from mpt_edge.precision import cpu_model_and_flags

    print(
        json.dumps(
            {
                "benchmark": "stream",
                "bundle": str(args.bundle),
                "head_motion": args.head_motion,
                "frames": args.frames,
                "faces": faces,
                "machine": {"cpu": cpu_model_and_flags()[0], "cores": os.cpu_count()},
                "sizes": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
