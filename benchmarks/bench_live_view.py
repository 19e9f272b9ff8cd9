"""What the live view costs the pipeline, printed as JSON: frames/s of `run` on a video replayed as
fast as possible, without `--serve` and with `--serve` and one viewer reading the MJPEG stream,
interleaved round by round; then resident memory through a long run with a viewer connected.

    python benchmarks/bench_live_view.py --bundle runs/demo/bundle --rounds 3 --long-frames 10000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_stream import rss_mb  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def viewer(port: int, stop: threading.Event, received: list[int]) -> None:
    """Reads the MJPEG stream like a browser would, until stopped."""
    deadline = time.time() + 10
    while not stop.is_set() and time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream.mjpg", timeout=5) as response:
                while not stop.is_set():
                    chunk = response.read(65536)
                    if not chunk:
                        return
                    received[0] += chunk.count(b"--mptedgeframe")
        except OSError:
            time.sleep(0.05)


def run(bundle: Path, video: Path, serve: bool, samples: list[float] | None = None) -> dict:
    from mpt_edge.stream.run import RunOptions, run_stream

    stop, received = threading.Event(), [0]
    port = free_port()
    threads = []
    if serve:
        threads.append(threading.Thread(target=viewer, args=(port, stop, received), daemon=True))
    if samples is not None:

        def sample() -> None:
            while not stop.wait(1.0):
                samples.append(round(rss_mb(), 1))

        threads.append(threading.Thread(target=sample, daemon=True))
    for thread in threads:
        thread.start()
    options = RunOptions(serve=f"127.0.0.1:{port}" if serve else None)
    summary = run_stream(bundle, str(video), io.StringIO(), options, log=lambda m: None)
    stop.set()
    return {
        "fps": summary.fps,
        "frames": summary.frames,
        "events": summary.events,
        "frames_to_viewer": received[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=1800)
    parser.add_argument("--long-frames", type=int, default=10_000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp"))
    args = parser.parse_args()

    from train.data.synthetic_video import plan_events, render_stream, write_video

    def video(frames: int) -> Path:
        path = args.cache / f"mpt-edge-live-view-{frames}.avi"
        if not path.is_file():
            truth = plan_events(frames, [k % 3 for k in range(frames // 60)], gap=60)
            write_video(path, render_stream(truth, frames, seed=100))
        return path

    short = video(args.frames)
    rates: dict[str, list[float]] = {"without_serve": [], "serve_one_viewer": []}
    viewer_frames = []
    for _ in range(args.rounds):
        rates["without_serve"].append(run(args.bundle, short, False)["fps"])
        result = run(args.bundle, short, True)
        rates["serve_one_viewer"].append(result["fps"])
        viewer_frames.append(result["frames_to_viewer"])
    samples: list[float] = []
    long = run(args.bundle, video(args.long_frames), True, samples) if args.long_frames else None
    medians = {k: statistics.median(v) for k, v in rates.items()}
    from mpt_edge.precision import cpu_model_and_flags

    print(
        json.dumps(
            {
                "benchmark": "live_view",
                "machine": {"cpu": cpu_model_and_flags()[0], "cores": os.cpu_count()},
                "video_frames": args.frames,
                "fps": rates,
                "median_fps": medians,
                "ratio_serve_vs_without": round(medians["serve_one_viewer"] / medians["without_serve"], 3),
                "frames_sent_to_the_viewer": viewer_frames,
                "long_run": None
                if long is None
                else {
                    **long,
                    "rss_mb_first": samples[0] if samples else None,
                    "rss_mb_last": samples[-1] if samples else None,
                    "rss_mb_max": max(samples) if samples else None,
                    "samples": len(samples),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
