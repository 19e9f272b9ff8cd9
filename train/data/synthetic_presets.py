"""Named synthetic presets: ``easy`` (the demo's: clear motion, no distractors) and ``hard`` (sub-pixel
motion among class-independent distractors, JPEG frames, CASME II-like class imbalance).

Why two: on the easy set every method scores near 1.0, which hid that the model had learned nothing
from sub-pixel motion. The hard preset is calibrated with the *baselines*, never with the model (a
linear probe of the motion prompts and Farneback flow + logistic regression, see
:mod:`train.baselines`): the flow baseline must land at held-out UF1 0.6-0.9, so there is room above
and below it. How its numbers were chosen is in the docs section "Synthetic presets".
"""

from __future__ import annotations

from dataclasses import dataclass

from mpt_edge.errors import InputError
from train.data.distractors import ClipStyle

# CASME II's 5-class counts (happiness, surprise, disgust, repression, others: 32/25/63/27/99) and the
# MEGC2019 composite's 3-class counts (negative, positive, surprise: 250/109/83).
CASME2_WEIGHTS = (32, 25, 63, 27, 99)
MEGC2019_WEIGHTS = (250, 109, 83)


@dataclass(frozen=True)
class Preset:
    name: str
    style: ClipStyle
    subjects: int  # defaults of the CLI's --synthetic-* options under this preset
    clips_per_class: int
    classes: int
    imbalanced: bool  # per-subject class counts follow CASME II / MEGC2019 frequencies

    def class_counts(self, clips_per_class: int, classes: int) -> list[int]:
        """Clips of each class per subject: ``clips_per_class`` on average, in the real sets' proportions."""
        if not self.imbalanced:
            return [clips_per_class] * classes
        weights = CASME2_WEIGHTS if classes == 5 else MEGC2019_WEIGHTS
        total = clips_per_class * classes
        return [max(1, round(w * total / sum(weights))) for w in weights]


EASY = Preset("easy", ClipStyle(), subjects=16, clips_per_class=4, classes=3, imbalanced=False)

HARD_STYLE = ClipStyle(
    amplitude_range=(0.1, 0.5),  # the bound: local motion of 0.1-0.5 px at the apex
    noise=3.0,
    jitter=0.05,
    head_shift_px=1.5,
    head_rotation_deg=0.8,
    blink_probability=0.4,
    brow_flash_probability=0.3,
    brow_flash_px=(0.1, 0.4),
    flicker=0.01,
    jpeg_quality=80,
    texture=0.3,
)
HARD = Preset("hard", HARD_STYLE, subjects=24, clips_per_class=3, classes=5, imbalanced=True)

# Real photographs animated by action units (train.data.realface): the style is not used (the renderer has
# its own nuisances), the sizes are the CLI's defaults; 17 identities are available, at least 16 asked.
REALFACE = Preset("realface", ClipStyle(), subjects=16, clips_per_class=3, classes=5, imbalanced=True)

PRESETS: dict[str, Preset] = {p.name: p for p in (EASY, HARD, REALFACE)}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise InputError(f"unknown synthetic preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def preset_defaults(name: str, subjects: int | None, clips: int | None, classes: int | None) -> tuple[int, int, int]:
    """The CLI's --synthetic-subjects/-clips/-classes, each defaulting to the preset's value."""
    preset = get_preset(name)
    return (subjects or preset.subjects, clips or preset.clips_per_class, classes or preset.classes)
