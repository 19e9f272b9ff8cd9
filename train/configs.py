"""Named MPT configurations as data (timm style): a registry the CLI and checkpoints refer to by name."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from mpt_edge.errors import MptEdgeError


@dataclass(frozen=True)
class MPTConfig:
    """Architecture of one MPT model. The ViT fields mirror timm's ``vit_*_patch16_224``."""

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
    # from the prompts to the output (see train/model.py and README "What the model learns").
    prompt_readout: bool = True

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


REGISTRY: dict[str, MPTConfig] = {
    "mpt-tiny": MPTConfig("mpt-tiny", embed_dim=192, depth=12, num_heads=3, adapter_dim=16),  # ViT-Ti/16: CPU, tests, demo
    "mpt-small": MPTConfig("mpt-small", embed_dim=384, depth=12, num_heads=6, adapter_dim=32),  # ViT-S/16
    "mpt-base": MPTConfig("mpt-base", embed_dim=768, depth=12, num_heads=12, adapter_dim=64),  # ViT-B/16, the paper's
}


def get_config(name: str, **overrides: object) -> MPTConfig:
    if name not in REGISTRY:
        raise MptEdgeError(f"unknown model config {name!r}; choose one of {', '.join(REGISTRY)}")
    return replace(REGISTRY[name], **overrides)
