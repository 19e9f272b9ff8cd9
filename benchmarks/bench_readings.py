"""What reading each event's pair both ways (``MotionConfig.read_mirrored``) costs on the device: the
time from two aligned face crops to the class scores (magnification, tokenization, engine), read once
against read twice, interleaved in one run.

Prints one JSON object. Usage: python benchmarks/bench_readings.py BUNDLE [--pairs 20] [--rounds 7]
(BUNDLE: any bundle folder, e.g. the demo's ``runs/demo/bundle-realface``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from mpt_edge.classify import feeds_of, predict_feeds
from mpt_edge.engines import open_bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    opened = open_bundle(args.bundle, "auto", log=lambda _: None)
    files, engine = opened.files, opened.engine
    size = files.motion_config.face_size
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(args.pairs):
        onset = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        apex = np.roll(onset, 1, axis=1)
        pairs.append((onset, apex))
    configs = {
        "once": replace(files.motion_config, read_mirrored=False),
        "both_ways": replace(files.motion_config, read_mirrored=True),
    }
    names = list(files.inputs)
    times: dict[str, list[float]] = {k: [] for k in configs}
    for _ in range(args.rounds):  # interleaved: both see the same load
        for key, config in configs.items():
            started = time.perf_counter()
            for onset, apex in pairs:
                predict_feeds(engine, feeds_of(config, names, onset, apex), files.class_names)
            times[key].append(1000 * (time.perf_counter() - started) / len(pairs))
    median = {k: round(float(np.median(v)), 2) for k, v in times.items()}
    print(
        json.dumps(
            {
                "what": "ms per event from two aligned crops to class scores",
                "bundle": str(args.bundle),
                "target": files.target_name,
                "precision": opened.precision,
                "prompt_variant": files.motion_config.prompt_variant,
                "machine": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "ms_per_event": median,
                "both_ways_over_once": round(median["both_ways"] / median["once"], 3),
            }
        )
    )
    engine.close()


if __name__ == "__main__":
    main()
