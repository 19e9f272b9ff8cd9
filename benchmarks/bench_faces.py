"""The face detectors on real photographs (tests/helpers/real_photos.py), printed as JSON and, with
``--markdown``, as the README's table:

Each detector runs as ``prepare`` and the stream use it (``FaceAligner.faces``: a frame without a face
is looked at once more with a border, where a face that fills it is found).

- detection: faces found of the faces there, on the originals and on rotated (±15°), half-size,
  blurred and JPEG-20 copies; false detections (on the non-face images and beside the real faces);
- landmark stability: each one-face photo moved by sub-pixel amounts (a phase ramp, no resampling
  blur) and detected again — how far the eye centres stray from where the shift put them (px RMS);
- time per frame: the group photo letterboxed into 640x480 and 1920x1080 frames, the detectors
  interleaved round by round (median ms).

    python benchmarks/bench_faces.py --markdown
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

SHIFTS = ((0.0, 0.0), (0.25, 0.0), (0.5, 0.25), (0.0, 0.5), (0.75, 0.75), (-0.5, 0.25))


def detection(detector: Any, photos: list[Any]) -> dict[str, Any]:
    from helpers.real_photos import matches

    faces = found = false = false_on_negatives = 0
    missed = []
    for photo in photos:
        boxes = [f.box for f in detector.faces(photo.image)]
        hit, extra = matches(boxes, photo.faces)
        faces, found, false = faces + len(photo.faces), found + hit, false + extra
        if not photo.faces:
            false_on_negatives += extra
        if hit < len(photo.faces):
            missed.append(f"{photo.name} ({hit}/{len(photo.faces)})")
    return {
        "faces": faces,
        "found": found,
        "rate": round(found / faces, 3) if faces else None,
        "false": false,
        "false_on_negatives": false_on_negatives,
        "images": len(photos),
        "missed": missed,
    }


def stability(detector: Any, photos: list[Any]) -> dict[str, Any]:
    """Eye-centre error after sub-pixel shifts, relative to the unshifted detection (px RMS, and as a
    fraction of the eye distance)."""
    import numpy as np
    from helpers.real_photos import fourier_shift

    errors, relative = [], []
    for photo in photos:
        base = max(detector.faces(photo.image), key=lambda f: f.box[2] * f.box[3], default=None)
        if base is None or base.eyes is None:
            continue
        eyes = np.array(base.eyes)
        distance = float(np.linalg.norm(eyes[1] - eyes[0]))
        for dx, dy in SHIFTS[1:]:
            moved = max(
                detector.faces(fourier_shift(photo.image, dx, dy)), key=lambda f: f.box[2] * f.box[3], default=None
            )
            if moved is None or moved.eyes is None:
                continue
            error = np.array(moved.eyes) - eyes - np.array([dx, dy])
            errors.extend(np.linalg.norm(error, axis=1).tolist())
            relative.extend((np.linalg.norm(error, axis=1) / distance).tolist())
    if not errors:
        return {"eye_rms_px": None, "samples": 0}
    return {
        "eye_rms_px": round(float(np.sqrt(np.mean(np.square(errors)))), 3),
        "eye_max_px": round(float(max(errors)), 3),
        "eye_rms_of_eye_distance": round(float(np.sqrt(np.mean(np.square(relative)))), 4),
        "samples": len(errors),
    }


def timing(detectors: dict[str, Any], frames: dict[str, Any], rounds: int) -> dict[str, dict[str, float]]:
    times: dict[str, dict[str, list[float]]] = {name: {size: [] for size in frames} for name in detectors}
    for _ in range(rounds):
        for size, frame in frames.items():
            for name, detector in detectors.items():
                start = time.perf_counter()
                detector.faces(frame.image)
                times[name][size].append((time.perf_counter() - start) * 1000)
    return {name: {size: round(statistics.median(v), 1) for size, v in sizes.items()} for name, sizes in times.items()}


def markdown(report: dict[str, Any]) -> str:
    rows = [
        (
            "| detector | faces found, originals | … rotated / half / blurred / JPEG copies "
            "| false detections (of them on non-faces) | eye-centre error after sub-pixel "
            "shifts, px RMS (max) | ms per 640×480 frame | ms per 1080p frame |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in report["detectors"].items():
        o, v, s, t = r["originals"], r["variants"], r["stability"], r["ms"]
        eyes = "no eye centres" if s["eye_rms_px"] is None else f"{s['eye_rms_px']:.2f} ({s['eye_max_px']:.2f})"
        rows.append(
            f"| {name} | {o['found']}/{o['faces']} | {v['found']}/{v['faces']} | "
            f"{o['false'] + v['false']} ({o['false_on_negatives'] + v['false_on_negatives']}) "
            f"| {eyes} | {t['640x480']} | {t['1920x1080']} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", default="haar,blazeface,mtcnn")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    from helpers.real_photos import on_canvas, photos, variants

    from mpt_edge.faces.align import FaceAligner
    from mpt_edge.precision import cpu_model_and_flags

    originals = photos()
    copies = [v for p in originals for v in variants(p)]
    group = next(p for p in originals if p.name == "t1.jpg")
    frames = {"640x480": on_canvas(group, 640, 480), "1920x1080": on_canvas(group, 1920, 1080)}
    # through the aligner, as prepare and the stream use them: a frame without a face is looked at again padded
    detectors = {name: FaceAligner(224, name, min_face=20) for name in args.faces.split(",") if name}
    singles = [p for p in originals if len(p.faces) == 1 and min(p.image.shape[:2]) > 200]
    report: dict[str, Any] = {
        "benchmark": "faces",
        "machine": {"cpu": cpu_model_and_flags()[0], "cores": os.cpu_count()},
        "photos": {"originals": len(originals), "variants": len(copies), "faces": sum(len(p.faces) for p in originals)},
        "detectors": {},
    }
    ms = timing(detectors, frames, args.rounds)
    for name, detector in detectors.items():
        report["detectors"][name] = {
            "originals": detection(detector, originals),
            "variants": detection(detector, copies),
            "stability": stability(detector, singles),
            "ms": ms[name],
        }
    print(json.dumps(report, indent=2))
    if args.markdown:
        print(markdown(report))


if __name__ == "__main__":
    main()
