"""Backbone weights from a local file (never downloaded): safetensors, or a torch state dict loaded
with ``weights_only=True`` so a hostile pickle cannot run code.

Two key layouts are read: timm's (``vit_base_patch16_224``, ``vit_small_patch14_dinov2.lvd142m``:
``pos_embed``, ``blocks.N.attn.qkv``, ``blocks.N.ls1.gamma``) — the model's own names — and Hugging
Face's (``ViTModel``, ``Dinov2Model``: ``embeddings.position_embeddings``,
``encoder.layer.N.attention.attention.query``, ``layer_scale1.lambda1``), which is mapped onto
timm's. What the file holds (family, width, patch, depth, position grid) is read off the tensors,
so a file that does not fit the chosen config is one line naming the file, what it looks like and
the config to use instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mpt_edge.errors import MptEdgeError
from train.configs import REGISTRY, MPTConfig
from train.model import MPT

# Wrappers that training frameworks put around a backbone's names (DDP, Lightning, classifiers).
_PREFIXES = ("module.", "model.", "backbone.", "vit.", "dinov2.")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The file's tensors, under timm's names whatever layout the file used."""
    path = Path(path)
    if not path.is_file():
        raise MptEdgeError(f"backbone weights {path} do not exist; pass --backbone-weights PATH to a local file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt file, pickle with code, not a tensor file at all
        raise MptEdgeError(
            f"cannot read backbone weights {path}: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MptEdgeError(
            f"backbone weights {path} hold no tensor state dict; expected a timm or Hugging "
            "Face ViT / DINOv2 checkpoint"
        )
    state = _strip_prefixes(state)
    return from_hugging_face(state) if is_hugging_face(state) else state


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop wrapper prefixes (repeatedly: ``module.backbone.``); no timm or Hugging Face backbone
    name starts with one of them."""

    def strip(key: str) -> str:
        while key.startswith(_PREFIXES):
            key = key[next(len(p) for p in _PREFIXES if key.startswith(p)) :]
        return key

    return {strip(k): v for k, v in state.items()}


def is_hugging_face(state: dict[str, torch.Tensor]) -> bool:
    return "embeddings.patch_embeddings.projection.weight" in state


_HF_LAYER = {  # Hugging Face per-layer name -> timm's (ViTModel and Dinov2Model)
    "layernorm_before": "norm1",
    "norm1": "norm1",
    "layernorm_after": "norm2",
    "norm2": "norm2",
    "attention.output.dense": "attn.proj",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}


def from_hugging_face(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Hugging Face ``ViTModel`` / ``Dinov2Model`` tensors under timm's names: query/key/value are
    concatenated into ``qkv`` (timm's order q, k, v), ``layer_scaleN.lambda1`` becomes ``lsN.gamma``;
    the pooler and the mask token, which MPT does not use, are dropped."""
    out: dict[str, torch.Tensor] = {
        "cls_token": state["embeddings.cls_token"],
        "pos_embed": state["embeddings.position_embeddings"],
        "patch_embed.proj.weight": state["embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": state["embeddings.patch_embeddings.projection.bias"],
    }
    if "layernorm.weight" in state:
        out["norm.weight"], out["norm.bias"] = state["layernorm.weight"], state["layernorm.bias"]
    layers = sorted({int(m.group(1)) for k in state if (m := re.match(r"encoder\.layer\.(\d+)\.", k))})
    for n in layers:
        src, dst = f"encoder.layer.{n}.", f"blocks.{n}."
        for kind in ("weight", "bias"):
            parts = [state.get(f"{src}attention.attention.{name}.{kind}") for name in ("query", "key", "value")]
            if all(p is not None for p in parts):
                out[f"{dst}attn.qkv.{kind}"] = torch.cat([p for p in parts if p is not None], dim=0)
            for hf, timm in _HF_LAYER.items():
                if f"{src}{hf}.{kind}" in state:
                    out[f"{dst}{timm}.{kind}"] = state[f"{src}{hf}.{kind}"]
        for i in (1, 2):
            if f"{src}layer_scale{i}.lambda1" in state:
                out[f"{dst}ls{i}.gamma"] = state[f"{src}layer_scale{i}.lambda1"]
    return out


@dataclass(frozen=True)
class BackboneShape:
    """What a timm-layout state dict holds, read off its tensors."""

    family: str
    embed_dim: int
    patch_size: int
    depth: int
    pos_grid: int

    def describe(self) -> str:
        kind = "DINOv2 ViT" if self.family == "dinov2" else "ViT"
        return (
            f"a {kind} (width {self.embed_dim}, patch {self.patch_size}, {self.depth} blocks, "
            f"{self.pos_grid}x{self.pos_grid} position grid)"
        )

    def matching_configs(self) -> list[str]:
        return [
            name
            for name, cfg in REGISTRY.items()
            if (cfg.family, cfg.embed_dim, cfg.patch_size, cfg.depth, cfg.stored_pos_grid)
            == (self.family, self.embed_dim, self.patch_size, self.depth, self.pos_grid)
        ]


def backbone_shape(state: dict[str, torch.Tensor]) -> BackboneShape | None:
    """The family and size of a timm-layout ViT state dict, or None where it is no ViT at all."""
    patch = state.get("patch_embed.proj.weight")
    pos = state.get("pos_embed")
    if patch is None or pos is None or patch.ndim != 4 or pos.ndim != 3:
        return None
    depth = len({int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))})
    family = "dinov2" if any(k.endswith("ls1.gamma") for k in state) else "vit"
    grid = int(round((pos.shape[1] - 1) ** 0.5))
    return BackboneShape(family, int(patch.shape[0]), int(patch.shape[-1]), depth, grid)


def check_fits(cfg: MPTConfig, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """One line naming the file, what it holds and the config that fits, where it does not fit ``cfg``."""
    shape = backbone_shape(state)
    if shape is None:  # not readable as a ViT: the per-tensor comparison names what is missing or off
        return
    wanted = BackboneShape(cfg.family, cfg.embed_dim, cfg.patch_size, cfg.depth, cfg.stored_pos_grid)
    if shape != wanted:
        fits = shape.matching_configs()
        advice = (
            f"use --model {' or '.join(fits)}"
            if fits
            else f"no built-in config fits it (configs: {', '.join(REGISTRY)})"
        )
        raise MptEdgeError(
            f"backbone weights {path} hold {shape.describe()}, but {cfg.name} is {wanted.describe()}: {advice}"
        )


def config_for_weights(path: str | Path) -> str:
    """The registry config whose backbone the file fits (what ``demo --backbone-weights`` trains)."""
    shape = backbone_shape(read_state_dict(path))
    fits = shape.matching_configs() if shape else []
    if not fits:
        described = shape.describe() if shape else "no ViT"
        raise MptEdgeError(
            f"backbone weights {path} hold {described}; no built-in config fits it (configs: {', '.join(REGISTRY)})"
        )
    return fits[0]


def load_backbone_weights(model: MPT, path: str | Path) -> dict[str, int]:
    """Copy a timm / Hugging Face ViT or DINOv2 state dict into the frozen backbone; returns counts."""
    state = read_state_dict(path)
    check_fits(model.cfg, state, path)
    expected = model.backbone_state_dict()
    missing = sorted(set(expected) - set(state))
    mismatched = [
        f"{k}: {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or mismatched:
        details = mismatched[:3] + [f"missing {k}" for k in missing[:3]]
        raise MptEdgeError(
            (
                f"backbone weights {path} do not fit {model.cfg.name} ({len(mismatched)} shape "
                f"mismatches, {len(missing)} missing): "
            )
            + "; ".join(details)
            + f". Use the config the file was trained for ({', '.join(REGISTRY)})"
        )
    with torch.no_grad():
        own = dict(model.named_parameters())
        for key in expected:
            own[key].copy_(state[key])
    return {"loaded": len(expected), "ignored": len(set(state) - set(expected))}
