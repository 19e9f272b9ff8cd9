"""Regenerate examples/onset.png and examples/apex.png: a drawn cartoon face (no real person) whose
mouth rises by 0.6 px between onset and apex -- a sub-pixel 'smile' for `mpt-edge magnify` to reveal."""

from pathlib import Path

import cv2
import numpy as np


def main(folder: Path = Path(__file__).parent) -> None:
    rng = np.random.default_rng(3)
    face = np.full((224, 224, 3), (150, 170, 210), np.uint8)
    cv2.ellipse(face, (112, 112), (80, 100), 0, 0, 360, (120, 150, 200), -1)
    for x in (80, 144):
        cv2.circle(face, (x, 90), 10, (40, 40, 40), -1)
        cv2.line(face, (x - 18, 70), (x + 18, 66), (60, 60, 80), 3)
    skin_noise = cv2.GaussianBlur(rng.normal(0, 6, (224, 224, 3)), (0, 0), 1.5)
    onset = np.clip(face + skin_noise, 0, 255).astype(np.uint8)
    cv2.polylines(
        onset, [np.array([[80, 160], [112, 170], [144, 160]], np.int32)], False, (60, 60, 140), 3, cv2.LINE_AA
    )
    lifted = cv2.warpAffine(onset, np.float32([[1, 0, 0], [0, 1, -0.6]]), (224, 224), flags=cv2.INTER_CUBIC)
    apex = onset.copy()
    apex[145:185, 70:155] = lifted[145:185, 70:155]
    cv2.imwrite(str(folder / "onset.png"), onset)
    cv2.imwrite(str(folder / "apex.png"), apex)


if __name__ == "__main__":
    main()
