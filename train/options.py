"""What a training run is asked to do, as frozen dataclasses that import no torch: the CLI reads its
defaults from here (one place for each), the Python API (:mod:`train.api`) takes them as they are, and a
run folder stores them as its identity."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpt_edge.errors import MptEdgeError
from mpt_edge.motion.config import LEGACY_PROMPT_VARIANT, PROMPT_VARIANTS, VIT_INPUTS, MotionConfig

if TYPE_CHECKING:
    from train.data.synthetic_folder import SyntheticSpec

DEFAULT_ALPHAS = (0.0, 2.0, 4.0, 8.0, 16.0)  # the --ablate grid's magnification factors
TEST_FRACTION = 0.25  # holdout: share of subjects held out (RunSpec, make_folds and the CLI read it here)


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = (
        3  # after the solved read-out: as good as 12 on the hard preset, a quarter of the time (docs: evidence)
    )
    batch_size: int = 8
    # gentle: with a random frozen backbone, fine-tuning only moves held-out UF1 away from the solved read-out (docs)
    lr: float = 1e-4
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    class_balanced: bool = False
    augment: bool = True  # flip/affine/gain augmentation, for fine-tuning and for solving the prompt read-out alike
    train_backbone: bool = False  # also train the ViT (prompt tuning keeps it frozen)
    readout_lr_scale: float = 0.0  # learning rate of the prompt read-out relative to lr (0: kept at its solved optimum)
    # Solve the [CLS] head with the prompt read-out as one linear probe before fine-tuning (the
    # recipe for a pretrained backbone, whose [CLS] is worth reading from the start; docs).
    probe_head: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs={self.epochs} (need >= 1)")
        if self.batch_size < 1:
            problems.append(f"batch_size={self.batch_size} (need >= 1)")
        if not self.lr > 0:
            problems.append(f"lr={self.lr} (need > 0)")
        if self.readout_lr_scale < 0:
            problems.append(f"readout_lr_scale={self.readout_lr_scale} (need >= 0)")
        if self.weight_decay < 0 or self.warmup_epochs < 0 or not 0 <= self.label_smoothing < 1:
            problems.append("weight_decay and warmup_epochs must be >= 0, label_smoothing in [0, 1)")
        if problems:
            raise MptEdgeError("invalid training options: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """As stored in a run's identity; ``probe_head`` only where set, so run folders written
        before it existed still resume."""
        data = asdict(self)
        if not data["probe_head"]:
            del data["probe_head"]
        return data


def default_probe_head(backbone_weights: object, motion_prompts: bool, prompt_readout: bool) -> bool:
    """Whether the [CLS] head is solved as a linear probe when not told: with pretrained weights and
    no prompt read-out beside it (the head is then the model's only output, and a zero head trains
    slowly). Beside the read-out a jointly solved head was measured to hurt: on the hard preset the
    pretrained DINOv2's [CLS] let the probe fit the training subjects (held-out UF1 0.38 at epoch 0,
    against 0.85 for the read-out alone; docs "What a pretrained backbone buys")."""
    return bool(backbone_weights) and not (motion_prompts and prompt_readout)


@dataclass(frozen=True)
class RunSpec:
    model: str = "mpt-tiny"
    alpha: float | None = None  # None: MotionConfig's default
    prompt_variant: str | None = None  # None: MotionConfig's default (strain; or lk / patch / flow)
    vit_input: str | None = None  # None: MotionConfig's default (apex / magnified)
    read_mirrored: bool | None = None  # None: MotionConfig's default (each clip also read mirrored)
    token_grid: int | None = None  # None: MotionConfig's default (prompt tokens per side)
    token_sigma: float | None = None  # None: MotionConfig's default (a window's sigma in patches: sigma_patches)
    motion_prompts: bool = True
    prompt_readout: bool = True  # the linear read-out of the prompts beside the [CLS] head
    backbone_weights: str | None = None
    protocol: str = "holdout"
    test_fraction: float = TEST_FRACTION
    val_subjects: int = 0
    folds: str | None = None
    options: TrainOptions = field(default_factory=TrainOptions)
    baselines: bool = True  # fit the probe and flow baselines on every fold (not part of the identity)

    def identity(self, data: dict[str, Any]) -> dict[str, Any]:
        """What must match for a resume: everything but the fold selection."""
        return {
            "data": data,
            "model": self.model,
            "alpha": resolved_alpha(self.alpha),  # None (the API's default) is the default's value, as the CLI's
            "prompt_variant": self.prompt_variant or MotionConfig.prompt_variant,  # stored: its default has changed
            **self._design_choices(),
            "motion_prompts": self.motion_prompts,
            "prompt_readout": self.prompt_readout,
            "backbone_weights": self.backbone_weights,
            "protocol": self.protocol,
            "test_fraction": self.test_fraction,
            "val_subjects": self.val_subjects,
            "options": self.options.to_dict(),
        }

    def motion_config(self) -> MotionConfig:
        """The motion config this spec trains with, defaults filled in from the model's backbone (its face and
        patch size, its normalisation); an invalid choice is one :class:`InputError` line."""
        from train.configs import get_config

        backbone = get_config(self.model)
        return MotionConfig(
            face_size=backbone.image_size,
            patch_size=backbone.patch_size,
            image_mean=backbone.image_mean,
            image_std=backbone.image_std,
            **self.motion_overrides(),
        )

    def motion_overrides(self) -> dict[str, Any]:
        """The MotionConfig fields this spec sets (None stands for the config's default)."""
        chosen = {
            "alpha": self.alpha,
            "prompt_variant": self.prompt_variant,
            "vit_input": self.vit_input,
            "read_mirrored": self.read_mirrored,
            "token_grid": self.token_grid,
            "sigma_patches": self.token_sigma,
        }
        return {k: v for k, v in chosen.items() if v is not None}

    def _design_choices(self) -> dict[str, Any]:
        """The prompt design in the identity, left out where it is the default, so that run folders of
        earlier versions (which had no such fields) still resume; alpha has its own key."""
        return {
            k: v
            for k, v in self.motion_overrides().items()
            if k not in ("alpha", "prompt_variant") and v != getattr(MotionConfig, k)
        }


def previous_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """A run.json identity of an earlier version as this one writes it: α resolved (0.2.0 stored None
    for a run started from Python) and the prompt variant named (before 0.3 only a non-default one
    was, and the default was ``lk``)."""
    identity = {**identity, "alpha": resolved_alpha(identity.get("alpha"))}
    identity.setdefault("prompt_variant", LEGACY_PROMPT_VARIANT)
    return identity


def resolved_alpha(alpha: float | None) -> float:
    """α as a run's identity stores it: None means MotionConfig's default."""
    return MotionConfig.alpha if alpha is None else float(alpha)


def synthetic_set(
    preset: str = "easy",
    subjects: int | None = None,
    clips: int | None = None,
    classes: int | None = None,
    seed: int = 0,
) -> SyntheticSpec:
    """The built-in synthetic set of a preset (easy, hard, realface), each size left None taken from the preset."""
    from train.data.synthetic_folder import SyntheticSpec
    from train.data.synthetic_presets import preset_defaults

    subjects, clips, classes = preset_defaults(preset, subjects, clips, classes)
    return SyntheticSpec(subjects=subjects, clips_per_class=clips, classes=classes, seed=seed, preset=preset)


@dataclass(frozen=True)
class DataSpec:
    """Which clips a stage reads: a data set folder (or a `prepare` cache), or the built-in synthetic set.
    ``synthetic=None`` with the synthetic set: the set a model was trained on, where it says (else the default)."""

    dataset: str = "synthetic"
    root: Path | None = None
    synthetic: SyntheticSpec | None = None
    skip_invalid: bool = False
    face_detector: str = "auto"
    allow_unaligned: bool = False  # train even where most clips were not aligned on a face


@dataclass(frozen=True)
class GridSpec:
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    variants: tuple[str, ...] = PROMPT_VARIANTS
    vit_inputs: tuple[str, ...] = VIT_INPUTS
    splits: int = 3
    epochs: int = 2
    loso_cells: int = 2
    include_no_prompts: bool = True

    def __post_init__(self) -> None:
        problems = []
        if unknown := sorted(set(self.variants) - set(PROMPT_VARIANTS)):
            problems.append(f"prompt variants {unknown} (choose from {', '.join(PROMPT_VARIANTS)})")
        if unknown := sorted(set(self.vit_inputs) - set(VIT_INPUTS)):
            problems.append(f"ViT inputs {unknown} (choose from {', '.join(VIT_INPUTS)})")
        if not self.alphas or any(not math.isfinite(a) or a < 0 for a in self.alphas):
            problems.append(f"alphas {list(self.alphas)} (need finite values >= 0)")
        if self.splits < 1 or self.epochs < 1 or self.loso_cells < 0:
            problems.append("splits and epochs must be >= 1, loso cells >= 0")
        if problems:
            raise MptEdgeError("--ablate: invalid " + "; ".join(problems))
