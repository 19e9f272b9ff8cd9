"""Backbone weights from a local file (never downloaded): safetensors, or a torch state dict loaded
with ``weights_only=True`` so a hostile pickle cannot run code. Shapes are checked against the model
and every mismatch is reported in one message that names the file and the config to use instead."""

from __future__ import annotations

from pathlib import Path

import torch

from mpt_edge.errors import MptEdgeError
from train.configs import REGISTRY
from train.model import MPT

# Wrappers that training frameworks put around timm's names.
_PREFIXES = ("module.", "model.", "backbone.", "encoder.")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise MptEdgeError(f"backbone weights {path} do not exist; pass --backbone-weights PATH to a local file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt file, pickle with code, not a tensor file at all
        raise MptEdgeError(f"cannot read backbone weights {path}: {type(error).__name__}: {str(error).splitlines()[0][:200]}") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MptEdgeError(f"backbone weights {path} hold no tensor state dict; expected a timm ViT checkpoint")
    return {_strip(k): v for k, v in state.items()}


def _strip(key: str) -> str:
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def load_backbone_weights(model: MPT, path: str | Path) -> dict[str, int]:
    """Copy a timm ``vit_*_patch16_224`` state dict into the frozen backbone; returns counts."""
    state = read_state_dict(path)
    expected = model.backbone_state_dict()
    missing = sorted(set(expected) - set(state))
    mismatched = [
        f"{k}: {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model" for k, v in expected.items() if k in state and state[k].shape != v.shape
    ]
    if missing or mismatched:
        details = mismatched[:3] + [f"missing {k}" for k in missing[:3]]
        raise MptEdgeError(
            f"backbone weights {path} do not fit {model.cfg.name} ({len(mismatched)} shape mismatches, {len(missing)} missing): "
            + "; ".join(details)
            + f". Use the config the file was trained for ({', '.join(REGISTRY)}) or a timm vit_*_patch16_224 checkpoint"
        )
    with torch.no_grad():
        own = dict(model.named_parameters())
        for key in expected:
            own[key].copy_(state[key])
    return {"loaded": len(expected), "ignored": len(set(state) - set(expected))}
