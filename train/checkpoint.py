"""Checkpoints: one self-describing file per model, written atomically, read with ``weights_only=True``.

A checkpoint holds the model and motion configs *as data*, the class names, the full state dict
(the frozen backbone too: it may be a random init that no other file can reproduce) and, for resume
checkpoints, the optimizer/scheduler state and the history so far. Loading validates the format,
its version and the configs before touching tensors, so a file from another version or another model
is one clear error, not a traceback.
"""

from __future__ import annotations

import io
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from mpt_edge import __version__
from mpt_edge.errors import MptEdgeError
from mpt_edge.io import atomic_write_bytes
from mpt_edge.motion.config import MotionConfig
from train.configs import MPTConfig
from train.model import MPT

FORMAT = "mpt-edge-checkpoint"
# 2: motion prompts standardised with training statistics (buffers) and the head reading the prompts
FORMAT_VERSION = 2


class CheckpointError(MptEdgeError):
    pass


def save_checkpoint(path: Path, model: MPT, class_names: list[str], **extra: Any) -> Path:
    """Write ``path`` atomically: a crash mid-write leaves the previous checkpoint intact."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "mpt_edge_version": __version__,
        "model_config": model.cfg.to_dict(),
        "motion_config": model.motion_config.to_dict(),
        "class_names": list(class_names),
        "state_dict": model.state_dict(),
        **extra,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The validated payload of a checkpoint file (tensors on CPU)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the .pt file that `mpt-edge train` wrote")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing a file
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused objects that are not tensors: maybe code
        raise CheckpointError(
            f"cannot read checkpoint {path}: it holds pickled Python objects that a safe load "
            "refuses (not an mpt-edge checkpoint, and possibly code); "
            "never load it unchecked: pass the .pt file that `mpt-edge train` wrote"
        ) from None
    except Exception as error:  # truncated, corrupt
        first = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"cannot read checkpoint {path} ({first}); it is corrupt or not an mpt-edge "
            "checkpoint: retrain or restore it"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an mpt-edge checkpoint (no '{FORMAT}' header); pass a file written by `mpt-edge train`"
        )
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version} (written by mpt-edge "
            f"{payload.get('mpt_edge_version', '?')}); "
            f"this mpt-edge {__version__} reads version {FORMAT_VERSION}: use the matching mpt-edge or retrain"
        )
    return payload


def model_from_payload(payload: dict[str, Any], path: Path) -> MPT:
    """Rebuild the model a checkpoint describes and load its tensors, with one clear error on mismatch."""
    try:
        cfg = MPTConfig(**payload["model_config"])
        motion = MotionConfig.from_dict(payload["motion_config"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"checkpoint {path} has an invalid model config ({error}); it was written by "
            "another mpt-edge version: retrain"
        ) from None
    model = MPT(cfg, motion)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except (KeyError, RuntimeError) as error:
        summary = str(error).replace("\n", " ")[:240]
        raise CheckpointError(
            f"checkpoint {path} does not match model {cfg.name}: {summary}; retrain or use the mpt-edge that wrote it"
        ) from None
    return model


def load_model(path: Path) -> tuple[MPT, dict[str, Any]]:
    """(model in eval mode, payload) of a checkpoint file."""
    payload = read_checkpoint(path)
    model = model_from_payload(payload, Path(path))
    model.eval()
    return model, payload
