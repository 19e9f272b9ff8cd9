"""``mpt-edge export``: a trained checkpoint -> one ONNX file (opset 18, checker-clean, simplified with
onnxslim, metadata inside), verified against PyTorch on real inputs before it is written.

What stays on the host, and why: the graph's inputs are the model inputs of
:func:`mpt_edge.preprocess.model_inputs` — the normalised apex image ``apex`` (B, 3, S, S) and the
motion prompts ``motion`` (B, K, F) — not raw frames. Magnification and Gaussian tokenization *are*
expressible as tensor ops, but (1) they then exist twice, and the numpy/OpenCV path is the single
definition training, calibration and the runtime share (the point of DESIGN §2); (2) their
Lucas-Kanade solve divides small differences of small numbers, which INT8 cannot represent, so in a
quantized graph they would have to stay FP32 anyway; (3) on the host they cost ~1.5 ms per pair on
2 CPU cores (benchmarks/bench_motion.py), and the runtime needs the same motion energy for onset/apex
spotting. So the device feeds aligned onset/apex frames to ``model_inputs`` and its output to the
engine.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mpt_edge import __version__
from mpt_edge.errors import MptEdgeError
from mpt_edge.io import atomic_write_bytes
from mpt_edge.onnx_meta import FORMAT, FORMAT_VERSION, KEY, read_onnx_meta
from mpt_edge.preprocess import model_inputs
from train.checkpoint import load_model
from train.model import MPT

OPSET = 18
PARITY_TOLERANCE = 1e-4


def sample_inputs(model: MPT, count: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Real model inputs: onset/apex pairs of synthetic clips, through the shared preprocessing."""
    from train.data.synthetic import iter_clips

    images, motion = [], []
    classes = 5 if model.cfg.num_classes == 5 else 3
    for clip in iter_clips(
        num_subjects=max(1, count // classes + 1),
        clips_per_class=1,
        num_classes=classes,
        size=model.cfg.image_size,
        seed=seed,
    ):
        image, tokens = model_inputs(clip.frames[clip.onset], clip.frames[clip.apex], model.motion_config)
        images.append(image)
        motion.append(tokens)
        if len(images) == count:
            break
    return np.stack(images), np.stack(motion)


def input_names(model: MPT) -> list[str]:
    return ["apex", "motion"] if model.cfg.use_motion_prompts else ["apex"]


def feeds(model: MPT, images: np.ndarray, motion: np.ndarray) -> dict[str, np.ndarray]:
    return {"apex": images, "motion": motion} if model.cfg.use_motion_prompts else {"apex": images}


def standardisation_record(model: MPT) -> dict[str, Any] | None:
    """Per (token, feature) mean and std the model standardises its motion prompts with."""
    if model.motion_embed is None:
        return None
    embed = model.motion_embed
    return {"mean": embed.feature_mean.tolist(), "std": embed.feature_std.tolist()}


def check_export_target(out: Path, overwrite: bool = False) -> None:
    """``out`` may be replaced: it is missing, or a model mpt-edge exported (re-exporting is the point),
    or ``overwrite`` says the user accepts losing what is there. A folder is never a target."""
    out = Path(out)
    if out.is_dir():
        raise MptEdgeError(f"--out {out} is a folder; name the .onnx file to write, e.g. {out / 'model.onnx'}")
    if not out.exists() or overwrite:
        return
    try:
        read_onnx_meta(out)
    except MptEdgeError:
        raise MptEdgeError(
            f"--out {out} exists and is not a model mpt-edge exported; choose another --out, "
            "or pass --overwrite to replace it"
        ) from None


def export_onnx(checkpoint: Path, out: Path, dynamic_batch: bool = False, simplify: bool = True) -> dict[str, Any]:
    import onnx
    import onnxruntime as ort

    if out.suffix != ".onnx":
        raise MptEdgeError(f"--out {out}: the exported model's file name must end in .onnx")
    model, payload = load_model(checkpoint)
    images, motion = sample_inputs(model)
    traced = 2 if dynamic_batch else 1  # torch.export specialises a dimension traced at size 1
    example = (torch.from_numpy(images[:traced]), torch.from_numpy(motion[:traced]))[: len(input_names(model))]
    dynamic_shapes = None
    if dynamic_batch:
        batch = torch.export.Dim("batch", min=1, max=1024)
        dynamic_shapes = tuple({0: batch} for _ in example)
    # torch.onnx logs one line per torchvision op it cannot register; torchvision is deliberately absent
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings():  # torch.export's deprecation chatter is not the user's business
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        program = torch.onnx.export(
            model,
            example,
            f=None,
            input_names=input_names(model),
            output_names=["logits"],
            opset_version=OPSET,
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            verbose=False,
        )
    assert program is not None  # dynamo=True always returns the program
    proto = program.model_proto
    if simplify:
        import onnxslim

        proto = onnxslim.slim(proto)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "mpt_edge_version": __version__,
        "model_config": model.cfg.to_dict(),
        "motion_config": model.motion_config.to_dict(),
        "class_names": list(payload["class_names"]),
        "inputs": input_names(model),
        "outputs": ["logits"],
        "dynamic_batch": dynamic_batch,
        "held_out_subjects": list(payload.get("held_out_subjects", [])),
        "checkpoint_sha256": hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest(),
        # The graph standardises the motion prompts with these (training-set) statistics; they are
        # repeated here so a model file alone says what it expects.
        "motion_standardisation": standardisation_record(model),
        # what it was trained on: calibrate/build default to the same (synthetic) set
        "training_data": (payload.get("identity") or {}).get("data"),
    }
    del proto.metadata_props[:]
    proto.metadata_props.add(key=KEY, value=json.dumps(meta))
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    # Parity on real inputs before anything is written: a wrong file never reaches disk.
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    batch_size = len(images) if dynamic_batch else 1
    worst = 0.0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            chunk = slice(start, start + batch_size)
            ours = session.run(None, feeds(model, images[chunk], motion[chunk]))[0]
            reference = model(
                *(torch.from_numpy(images[chunk]), torch.from_numpy(motion[chunk]))[: len(input_names(model))]
            ).numpy()
            worst = max(worst, float(np.abs(ours - reference).max()))
    if worst > PARITY_TOLERANCE:
        raise MptEdgeError(
            f"exported model differs from PyTorch by {worst:.2e} (> {PARITY_TOLERANCE}); not "
            "written. Report this with the checkpoint"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, data)
    return {
        "out": str(out),
        "opset": OPSET,
        "inputs": {
            name: ["batch" if dynamic_batch else 1, *shape]
            for name, shape in zip(input_names(model), (images.shape[1:], motion.shape[1:]))
        },
        "outputs": {"logits": ["batch" if dynamic_batch else 1, model.cfg.num_classes]},
        "max_abs_logit_difference": worst,
        "parity_inputs": int(len(images)),
        "bytes": len(data),
        "simplified": simplify,
        "nodes": len(proto.graph.node),
    }
