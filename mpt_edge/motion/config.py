"""The one definition of motion-prompt preprocessing, shared by training, export, calibration and runtime.

Every stage reads a :class:`MotionConfig` (the bundle manifest stores ``to_dict()``), so the numbers
that shape the motion prompts cannot drift between the workstation and the device.

Deviations from the paper (arXiv 2508.09446), written down because the stored copy of the paper
available while this was built held only its abstract and introduction, not §III:

* ``alpha`` defaults to 2.0, the low end of the 2..20 range DESIGN.md names, chosen by measurement:
  on the hard synthetic preset a linear probe of the prompts scores held-out UF1 0.827 / 0.851 /
  0.852 / 0.769 / 0.641 at alpha 0 / 1 / 2 / 4 / 8 (3 splits; docs "What the model learns").
  Larger alphas push magnified head motion and texture out of Lucas-Kanade's linear range. The
  paper's own value could not be confirmed and should be checked against §III / its ablation table.
* Magnification is the *linear Eulerian* two-frame form (DESIGN §1); the paper's magnifier may be a
  learned one. :class:`mpt_edge.motion.magnify.Magnifier` is the seam for that.
* Gaussian tokenization lays ``token_grid``² isotropic Gaussian kernels over the face, centred on a
  regular grid (every ``patch_size * face_size / (token_grid * patch_size)`` px), σ = ``sigma_patches``
  × patch size, and pools a Lucas-Kanade style motion description under each kernel (see
  :mod:`mpt_edge.motion.tokenize`). One prompt token per kernel; all prompts are inserted at the input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from mpt_edge.errors import InputError
from mpt_edge.motion.images import check_alpha

DEFAULT_ALPHA = 2.0
MAX_FACE_SIZE = 1024  # px: the largest aligned face (the paper's ViT-B reads 224, DINOv2 up to 518)

#: ImageNet statistics both backbone families were pre-trained with (timm ViT/DeiT, DINOv2).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: Per-kernel motion features, in the order the token array stores them. Units: flow in pixels of the
#: face crop (of the *magnified* motion), intensity differences on the 0..1 scale.
LK_FEATURE_NAMES: tuple[str, ...] = (
    "flow_x",  # Gaussian-windowed Lucas-Kanade displacement, x
    "flow_y",  # ... y
    "normal_flow_x",  # per-axis estimate, robust where the structure tensor is degenerate
    "normal_flow_y",
    "mean_diff",  # signed mean of (magnified apex - onset)
    "mean_abs_diff",  # motion energy
)
FEATURE_NAMES = LK_FEATURE_NAMES  # the default variant's; kept under its old name for the magnify command

#: Per-kernel features of the ``flow`` variant: dense optical flow pooled by the Gaussian windows.
FLOW_FEATURE_NAMES: tuple[str, ...] = ("flow_x", "flow_y", "flow_magnitude")
#: Per-kernel features of the ``strain`` variant: the field's input (dense flow with the face's global
#: motion removed, and optical strain), pooled by the Gaussian windows.
STRAIN_FEATURE_NAMES: tuple[str, ...] = ("flow_x", "flow_y", "flow_magnitude", "optical_strain")
#: Channels of every cell of a ``patch`` token (``patch_cells``² cells per token).
PATCH_CHANNELS: tuple[str, ...] = (
    "diff",  # magnified apex - onset
    "normal_flow_x",  # -<I_x D> / (<I_x^2> + eps) over the cell: motion in px, independent of the texture's contrast
    "normal_flow_y",
)

#: How a Gaussian window turns the motion into one prompt token (docs "Motion prompt variants").
PROMPT_VARIANTS: tuple[str, ...] = ("lk", "patch", "flow", "strain")
#: The per-token features of each variant, in storage order (``patch``'s depend on ``patch_cells``).
VARIANT_FEATURES: dict[str, tuple[str, ...]] = {
    "lk": LK_FEATURE_NAMES,
    "flow": FLOW_FEATURE_NAMES,
    "strain": STRAIN_FEATURE_NAMES,
}
#: What a config written before the field existed (or before 0.3 changed the default) used.
LEGACY_PROMPT_VARIANT = "lk"
#: What the ViT's patch tokens see: the apex frame, or the magnified apex.
VIT_INPUTS: tuple[str, ...] = ("apex", "magnified")


@dataclass(frozen=True)
class MotionConfig:
    """Parameters of magnification + Gaussian tokenization; stored verbatim in every bundle."""

    face_size: int = 224
    patch_size: int = 16
    alpha: float = DEFAULT_ALPHA
    pyramid_levels: int = 4
    finest_level_gain: float = 0.25  # fraction of alpha applied to the finest band (noise control)
    lowpass_gain: float = 1.0  # fraction of alpha applied to the pyramid's low-pass residual
    token_grid: int = 7  # tokens per side; token_grid**2 motion prompt tokens
    sigma_patches: float = 1.0  # Gaussian sigma in units of patch_size
    flow_eps: float = 1e-4  # Tikhonov term of the 2x2 Lucas-Kanade solve (0..1 intensity units^2)
    # strain (the default since 0.3: flow - head motion, magnitude, strain) | lk (Lucas-Kanade moments) | patch | flow
    prompt_variant: str = "strain"
    vit_input: str = "apex"  # apex | magnified: the image the ViT's patch tokens are made from
    # RGB normalisation of the ViT image: a copy of the backbone config's (train.configs.MPTConfig), set
    # where the model is built and checked there, so the device normalises as the backbone was trained
    image_mean: tuple[float, float, float] = IMAGENET_MEAN
    image_std: tuple[float, float, float] = IMAGENET_STD
    # patch variant: cells per side of each token's patch (probe, hard preset, α 0: 1 -> 0.841, 2 -> 0.808, 4 -> 0.622:
    # more features overfit 288 clips)
    patch_cells: int = 2
    # read each pair also mirrored (left and right swapped) and average the two readings' class scores:
    # an expression is nearly symmetric, the noise of one reading is not (docs "Reading each clip both ways")
    read_mirrored: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_mean", tuple(float(v) for v in self.image_mean))  # JSON gives lists
        object.__setattr__(self, "image_std", tuple(float(v) for v in self.image_std))
        problems = []
        if len(self.image_mean) != 3 or len(self.image_std) != 3 or min(self.image_std) <= 0:
            problems.append("image_mean/image_std need 3 values, std > 0")
        if not 32 <= self.face_size <= MAX_FACE_SIZE:
            problems.append(f"face_size={self.face_size} (need 32..{MAX_FACE_SIZE})")
        sizes_ok = (
            32 <= self.face_size <= MAX_FACE_SIZE and self.patch_size >= 1 and not self.face_size % self.patch_size
        )
        if 32 <= self.face_size <= MAX_FACE_SIZE and not sizes_ok:
            problems.append(f"patch_size={self.patch_size} must divide face_size={self.face_size}")
        try:
            check_alpha(self.alpha)
        except InputError as error:
            problems.append(str(error))
        if not 1 <= self.pyramid_levels <= 8:
            problems.append(f"pyramid_levels={self.pyramid_levels} (need 1..8)")
        if not (0.0 <= self.finest_level_gain <= 1.0) or not (0.0 <= self.lowpass_gain <= 1.0):
            problems.append("finest_level_gain and lowpass_gain must lie in [0, 1]")
        if sizes_ok and not (1 <= self.token_grid <= self.face_size // self.patch_size):
            problems.append(f"token_grid={self.token_grid} (need 1..{self.face_size // self.patch_size})")
        elif not sizes_ok and self.token_grid < 1:
            problems.append(f"token_grid={self.token_grid} (need >= 1)")
        if not (self.sigma_patches > 0.0) or not (self.flow_eps > 0.0):
            problems.append("sigma_patches and flow_eps must be > 0")
        if self.prompt_variant not in PROMPT_VARIANTS:
            problems.append(f"prompt_variant={self.prompt_variant!r} (choose {', '.join(PROMPT_VARIANTS)})")
        if self.vit_input not in VIT_INPUTS:
            problems.append(f"vit_input={self.vit_input!r} (choose {', '.join(VIT_INPUTS)})")
        if not (1 <= self.patch_cells <= 8):
            problems.append(f"patch_cells={self.patch_cells} (need 1..8)")
        if not isinstance(self.read_mirrored, bool):
            problems.append(f"read_mirrored={self.read_mirrored!r} (need true or false)")
        if problems:
            raise InputError("invalid motion config: " + "; ".join(problems))

    @property
    def num_tokens(self) -> int:
        return self.token_grid * self.token_grid

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the F numbers of one token, in storage order, for this prompt variant."""
        if self.prompt_variant == "patch":
            cells = [(y, x) for y in range(self.patch_cells) for x in range(self.patch_cells)]
            return tuple(f"{channel}@{y},{x}" for channel in PATCH_CHANNELS for y, x in cells)
        return VARIANT_FEATURES[self.prompt_variant]

    @property
    def num_features(self) -> int:
        return len(self.feature_names)

    @property
    def token_shape(self) -> tuple[int, int]:
        """Shape of one pair's motion features: (tokens, features)."""
        return (self.num_tokens, self.num_features)

    @property
    def sigma_px(self) -> float:
        return self.sigma_patches * self.patch_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MotionConfig:
        """A stored config; one without ``prompt_variant`` was written when the only (then default)
        variant was ``lk``, so it reads as ``lk``, not as today's default; one without ``read_mirrored``
        was read once, as it is."""
        data = {"prompt_variant": LEGACY_PROMPT_VARIANT, "read_mirrored": False, **data}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"motion config has unknown keys {unknown}: written by a newer mpt-edge? upgrade mpt-edge")
        return cls(**data)
