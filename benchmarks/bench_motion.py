"""Motion prompt generation speed: fast path vs a plain numpy/scipy reference vs a PyPI peer, and
what each prompt variant (lk / patch / flow) costs on the host per onset/apex pair.

Prints one JSON object. Compare the ratios inside one run (same machine, same load).
Usage: python benchmarks/bench_motion.py [--pairs 30] [--rounds 7] [--size 224]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import time
import warnings
from dataclasses import replace

import cv2
import numpy as np

from mpt_edge.motion import LinearEulerianMagnifier, MotionConfig, gaussian_tokenize, motion_prompts
from mpt_edge.motion.config import PROMPT_VARIANTS
from mpt_edge.motion.reference import reference_magnify, reference_tokenize


def make_pairs(count: int, size: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """BGR uint8 textured frames where a lower-face block moves by a sub-pixel amount."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        onset = cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (0, 0), 2.0)
        shift = np.float32([[1, 0, rng.uniform(-0.5, 0.5)], [0, 1, rng.uniform(-0.5, 0.5)]])
        moved = cv2.warpAffine(onset, shift, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        apex = onset.copy()
        apex[size // 2 :, size // 4 : 3 * size // 4] = moved[size // 2 :, size // 4 : 3 * size // 4]
        pairs.append((onset, apex))
    return pairs


def interleaved_rates(methods: dict, rounds: int) -> dict[str, float]:
    """Median pairs/s per method over ``rounds`` rounds that each run every method once in turn, so
    load from neighbours on a shared machine hits all methods alike and the ratios stay comparable."""
    per_round: dict[str, list[float]] = {name: [] for name in methods}
    for func, pairs in methods.values():
        func(*pairs[0])  # warm-up (caches, allocator, lazy imports)
    for _ in range(rounds):
        for name, (func, pairs) in methods.items():
            start = time.perf_counter()
            for onset, apex in pairs:
                func(onset, apex)
            per_round[name].append(len(pairs) / (time.perf_counter() - start))
    return {name: float(np.median(rates)) for name, rates in per_round.items()}


def peer_magnifier(alpha: float):
    """eulerian-magnification (PyPI, 0.22): video EVM with an FFT temporal band-pass. On a two-frame
    clip the only non-DC temporal frequency is Nyquist (fps/2), so pass exactly that band."""
    try:
        from eulerian_magnification.base import eulerian_magnification
    except ImportError as error:  # not installed: reported, not faked
        return None, f"not installed ({error}); pip install eulerian-magnification==0.22"

    def run(onset: np.ndarray, apex: np.ndarray) -> np.ndarray:
        clip = np.stack([onset, apex]).astype(np.float64) / 255.0
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # it prints on every call
            warnings.simplefilter("ignore")
            out = eulerian_magnification(
                clip, fps=2.0, freq_min=0.9, freq_max=1.0, amplification=alpha, pyramid_levels=4, skip_levels_at_top=1
            )
        return out[1].astype(np.float32)

    return run, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (median reported)")
    args = parser.parse_args()

    config = MotionConfig(face_size=args.size)
    pairs = make_pairs(args.pairs, args.size)
    alpha = config.alpha

    # Every method reads its magnification settings from the same config.
    fast_magnify = LinearEulerianMagnifier(config)

    def fast_pipeline(onset, apex):
        return motion_prompts(onset, apex, config)

    def reference_magnify_only(onset, apex):
        return reference_magnify(
            onset, apex, alpha, config.pyramid_levels, config.finest_level_gain, config.lowpass_gain
        )

    def reference_pipeline(onset, apex):
        return reference_tokenize(onset, reference_magnify_only(onset, apex), config)

    ref_pairs = pairs[: max(2, args.pairs // 10)]
    results: dict[str, object] = {
        "benchmark": "motion_prompts",
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "opencv_threads": cv2.getNumThreads(),
        },
        "size": args.size,
        "alpha": alpha,
        "tokens": list(config.token_shape),
    }
    methods = {
        "fast_magnify_and_tokenize": (fast_pipeline, pairs),
        "reference_magnify_and_tokenize": (reference_pipeline, ref_pairs),
        "fast_magnify_only": (fast_magnify, pairs),
        "reference_magnify_only": (reference_magnify_only, ref_pairs),
    }
    for variant in PROMPT_VARIANTS:  # the default (lk) is fast_magnify_and_tokenize above
        if variant != config.prompt_variant:
            variant_config = replace(config, prompt_variant=variant)
            methods[f"variant_{variant}"] = (
                lambda onset, apex, c=variant_config: motion_prompts(onset, apex, c),
                pairs,
            )
    peer, reason = peer_magnifier(alpha)
    if peer is not None:
        methods["peer_magnify_only"] = (peer, ref_pairs)
    results["pairs_per_s"] = interleaved_rates(methods, args.rounds)
    rates = results["pairs_per_s"]
    results["speedup_vs_reference"] = {
        "magnify_and_tokenize": rates["fast_magnify_and_tokenize"] / rates["reference_magnify_and_tokenize"],
        "magnify_only": rates["fast_magnify_only"] / rates["reference_magnify_only"],
    }
    agreement = {"max_abs_diff_magnified": 0.0, "max_abs_diff_tokens": 0.0}
    for onset, apex in ref_pairs:
        fast_mag, ref_mag = fast_magnify(onset, apex), reference_magnify_only(onset, apex)
        agreement["max_abs_diff_magnified"] = max(
            agreement["max_abs_diff_magnified"], float(np.abs(fast_mag - ref_mag).max())
        )
        tokens = gaussian_tokenize(onset, fast_mag, config)
        agreement["max_abs_diff_tokens"] = max(
            agreement["max_abs_diff_tokens"], float(np.abs(tokens - reference_tokenize(onset, ref_mag, config)).max())
        )
    results["fast_vs_reference"] = agreement
    results["prompt_variant_ms_per_pair"] = {
        v: 1000.0 / rates["fast_magnify_and_tokenize" if v == config.prompt_variant else f"variant_{v}"]
        for v in PROMPT_VARIANTS
    }

    if peer is None:
        results["peer_eulerian_magnification"] = {"status": reason}
    else:
        peer_rate = rates.pop("peer_magnify_only")
        onset, apex = ref_pairs[0]
        ours = fast_magnify(onset, apex) - apex / np.float32(255)
        theirs = peer(onset, apex) - apex / np.float32(255)
        peer_report = {
            "magnify_only_pairs_per_s": peer_rate,
            "fast_speedup_vs_peer": rates["fast_magnify_only"] / peer_rate,
            # How much motion each adds to the apex (RMS, 0..1 scale), and whether in the same direction.
            "added_motion_rms": {"fast": float(np.sqrt(np.mean(ours**2))), "peer": float(np.sqrt(np.mean(theirs**2)))},
        }
        if np.std(theirs) > 0:
            peer_report["added_motion_correlation_with_fast"] = float(np.corrcoef(ours.ravel(), theirs.ravel())[0, 1])
        else:
            peer_report["note"] = (
                "the peer's temporal band-pass passes nothing on a two-frame clip: it returns the apex unchanged"
            )
        results["peer_eulerian_magnification"] = peer_report
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
