"""The README's picture of the real-face preset: for a few people and classes, onset | apex | magnified
apex | motion, from the aligned crops ``prepare`` made (what the model sees), and one raw 640x480 frame.

    python benchmarks/realface_picture.py --out docs/images/realface.jpg
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/realface.jpg"))
    parser.add_argument("--alpha", type=float, default=8.0)
    parser.add_argument("--rows", type=int, default=4)
    args = parser.parse_args()
    from mpt_edge.io import atomic_write_bytes
    from mpt_edge.motion import LinearEulerianMagnifier, MotionConfig, gaussian_tokenize
    from mpt_edge.motion.visualize import side_by_side
    from train.data.sources import open_dataset
    from train.data.synthetic_folder import SyntheticSpec

    source = open_dataset(
        "synthetic", None, SyntheticSpec(preset="realface", subjects=16, clips_per_class=3, classes=5), face_size=224
    )
    meta = json.loads((Path(source.root) / "dataset.json").read_text())
    raw = Path(meta["root"])
    people = json.loads((raw / "realface.json").read_text())["identities"]
    chosen, seen = [], set()
    for record in source.records:  # one clip per class, each of another person
        if record.emotion not in {r.emotion for r in chosen} and record.subject not in seen:
            chosen.append(record)
            seen.add(record.subject)
        if len(chosen) == args.rows:
            break
    config = MotionConfig(alpha=args.alpha)
    rows = []
    for record in chosen:
        onset, apex = cv2.imread(str(record.frames[record.onset])), cv2.imread(str(record.frames[record.apex]))
        magnified = LinearEulerianMagnifier(config)(onset, apex)
        row = side_by_side(onset, apex, magnified, gaussian_tokenize(onset, magnified, config), config)
        label = f"{record.emotion} ({people[record.subject]['person']})"
        cv2.putText(row, label, (6, row.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(row)
    picture = np.vstack(rows)
    ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 80])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, data.tobytes())
    frame = sorted((raw / "CASME2_RAW_selected").rglob("*.jpg"))[0]
    small = cv2.resize(cv2.imread(str(frame)), (320, 240), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    atomic_write_bytes(args.out.with_name(args.out.stem + "-frame.jpg"), data.tobytes())
    print(json.dumps({"out": str(args.out), "rows": [f"{r.subject}/{r.clip} {r.emotion}" for r in chosen]}))


if __name__ == "__main__":
    main()
