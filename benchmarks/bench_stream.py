"""The streaming pipeline over a long synthetic video, printed as JSON: frames per second, per-stage
milliseconds, apex->event latency p50/p99, and resident memory sampled through the run (flat memory
is the claim: bounded queue, ring buffers, no per-frame growth).

    python benchmarks/bench_stream.py --bundle bundles/ov --frames 10000

The video (a drawn face, micro-expressions every ``--every`` frames) is rendered once into
``--video`` and reused. Replay is as fast as possible (a file source never drops frames).
"""

from __future__ import annotations

import argparse
import io
import json
import threading
import time
from pathlib import Path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=60, help="a micro-expression every N frames")
    parser.add_argument("--video", type=Path, default=None, help="where the rendered video is cached (default: /tmp, named by --frames/--every)")
    parser.add_argument("--face", default="haar")
    args = parser.parse_args()

    from mpt_edge.stream.pipeline import PipelineConfig
    from mpt_edge.stream.run import run_stream
    from train.data.synthetic_video import plan_events, render_stream, write_video

    truth = plan_events(args.frames, [k % 3 for k in range(args.frames // args.every)], gap=args.every)
    video = args.video or Path(f"/tmp/mpt-edge-bench-stream-{args.frames}-{args.every}.avi")
    if not video.is_file():
        write_video(video, render_stream(truth, args.frames, seed=100))  # a drawn face the Haar cascade finds
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    start = time.perf_counter()

    def sample() -> None:
        while not stop.wait(0.5):
            samples.append((round(time.perf_counter() - start, 1), round(rss_mb(), 1)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    events = io.StringIO()
    summary = run_stream(args.bundle, str(video), events, config=PipelineConfig(face_detector=args.face), log=lambda m: None)
    stop.set()
    found = [json.loads(line) for line in events.getvalue().splitlines()]
    matched = sum(any(abs(e["frame_apex"] - t.apex) <= 3 for e in found) for t in truth)
    names = ["negative", "positive", "surprise"]
    right = sum(any(abs(e["frame_apex"] - t.apex) <= 3 and e["label"] == names[t.label] for e in found) for t in truth)
    tenth = max(1, len(samples) // 10)
    result = {
        "benchmark": "stream", "bundle": str(args.bundle), "video_frames": args.frames, **summary,
        "true_events": len(truth), "found": matched, "labels_right": right, "false_events": len(found) - matched,
        "rss_mb": {"first_10pct_max": max(s[1] for s in samples[:tenth]) if samples else None,
                   "last_10pct_max": max(s[1] for s in samples[-tenth:]) if samples else None,
                   "max": max((s[1] for s in samples), default=None), "samples": len(samples)},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
