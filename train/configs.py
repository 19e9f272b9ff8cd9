"""Named MPT configurations as data (timm style): a registry the CLI and checkpoints refer to by name."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from mpt_edge.errors import MptEdgeError
from mpt_edge.motion.config import IMAGENET_MEAN, IMAGENET_STD

#: Backbone families: how the ViT's blocks and position embeddings are built and which checkpoints fit.
#: ``vit``: timm ``vit_*_patch16_224`` (ViT / DeiT, the paper's ViT-B/16); ``dinov2``: DINOv2 (patch 14,
#: LayerScale, position embeddings trained at 518 px and interpolated bicubically to the input grid).
FAMILIES = ("vit", "dinov2")


@dataclass(frozen=True)
class MPTConfig:
    """Architecture of one MPT model. The ViT fields mirror timm's ``vit_*``; the backbone fields
    (family, patch size, LayerScale, LayerNorm eps, trained position grid, normalisation) are data
    that travels with the checkpoint, the ONNX metadata and the bundle."""

    name: str
    embed_dim: int
    depth: int
    num_heads: int
    image_size: int = 224
    patch_size: int = 16
    mlp_ratio: float = 4.0
    adapter_dim: int = 32  # bottleneck width of each group adapter
    adapter_scale: float = 1.0  # residual scale; up-projections start at zero, so training starts from the frozen ViT
    num_classes: int = 3
    use_motion_prompts: bool = True  # False: the ablation "without motion prompts"
    # A linear read-out of the standardised motion prompts added to the head's logits: the direct path
    # from the prompts to the output (see train/model.py and docs "What the model learns").
    prompt_readout: bool = True
    # What the head reads: the final [CLS] alone (False), or the [CLS] plus the mean of the final motion-prompt
    # tokens (True) — the prompts after the blocks and their group adapters, which may read them non-linearly
    # (issue "A recognizer...": a head over the prompt tokens). Measured in docs/evidence.md; off by default.
    head_prompt_tokens: bool = False
    family: str = "vit"
    layer_scale: bool = False  # DINOv2: per-channel scales on both residual branches (timm ``ls1/ls2.gamma``)
    norm_eps: float = 1e-6
    # Side of the position grid the backbone was trained with; 0: the input's own grid. DINOv2: 37
    # (518 px / 14), resized bicubically to the input grid in every forward, as DINOv2 does.
    pos_grid: int = 0
    image_mean: tuple[float, float, float] = IMAGENET_MEAN  # RGB normalisation the backbone was trained with
    image_std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        # JSON (ONNX metadata, manifests) stores tuples as lists; keep the config hashable and comparable
        object.__setattr__(self, "image_mean", tuple(float(v) for v in self.image_mean))
        object.__setattr__(self, "image_std", tuple(float(v) for v in self.image_std))
        problems = []
        if self.family not in FAMILIES:
            problems.append(f"family={self.family!r} (choose {', '.join(FAMILIES)})")
        if self.patch_size < 1 or self.image_size % self.patch_size:
            problems.append(f"patch_size={self.patch_size} must divide image_size={self.image_size}")
        if self.pos_grid < 0:
            problems.append(f"pos_grid={self.pos_grid} (need >= 0)")
        if len(self.image_mean) != 3 or len(self.image_std) != 3 or min(self.image_std) <= 0:
            problems.append("image_mean/image_std need 3 values, std > 0")
        if problems:
            raise MptEdgeError(f"invalid model config {self.name}: " + "; ".join(problems))

    @property
    def grid(self) -> int:
        """Patches per side of the input."""
        return self.image_size // self.patch_size

    @property
    def stored_pos_grid(self) -> int:
        """Side of the position-embedding grid stored in the weights."""
        return self.pos_grid or self.grid

    @property
    def num_patches(self) -> int:
        return self.grid**2

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


REGISTRY: dict[str, MPTConfig] = {
    "mpt-tiny": MPTConfig(
        "mpt-tiny", embed_dim=192, depth=12, num_heads=3, adapter_dim=16
    ),  # ViT-Ti/16: CPU, tests, demo
    # mpt-tiny whose head also reads the final motion-prompt tokens (an experiment of the recognizer issue)
    "mpt-tiny-prompt-head": MPTConfig(
        "mpt-tiny-prompt-head", embed_dim=192, depth=12, num_heads=3, adapter_dim=16, head_prompt_tokens=True
    ),
    "mpt-small": MPTConfig("mpt-small", embed_dim=384, depth=12, num_heads=6, adapter_dim=32),  # ViT-S/16
    "mpt-base": MPTConfig("mpt-base", embed_dim=768, depth=12, num_heads=12, adapter_dim=64),  # ViT-B/16, the paper's
    # DINOv2 (timm vit_{small,base}_patch14_dinov2.lvd142m, Hugging Face facebook/dinov2-{small,base}) at 224 px: 16x16
    # patches
    "mpt-small-dinov2": MPTConfig(
        "mpt-small-dinov2",
        embed_dim=384,
        depth=12,
        num_heads=6,
        adapter_dim=32,
        patch_size=14,
        family="dinov2",
        layer_scale=True,
        pos_grid=37,
    ),
    "mpt-base-dinov2": MPTConfig(
        "mpt-base-dinov2",
        embed_dim=768,
        depth=12,
        num_heads=12,
        adapter_dim=64,
        patch_size=14,
        family="dinov2",
        layer_scale=True,
        pos_grid=37,
    ),
}


def get_config(name: str, **overrides: Any) -> MPTConfig:
    if name not in REGISTRY:
        raise MptEdgeError(f"unknown model config {name!r}; choose one of {', '.join(REGISTRY)}")
    return replace(REGISTRY[name], **overrides)
