"""The metadata an exported MPT ONNX model carries (``metadata_props["mpt_edge"]``, JSON): model and
motion configs, class names, input/output names and the held-out subjects of its training run.
Read with ONNX Runtime (the device has no ``onnx`` package), so every later stage knows how to feed
the model from the model file alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mpt_edge.errors import InputError, library_reason

KEY = "mpt_edge"
FORMAT = "mpt-edge-onnx"
FORMAT_VERSION = 1


def read_onnx_meta(path: str | Path) -> dict[str, Any]:
    """The mpt-edge metadata of an exported model; one clear error for a foreign or corrupt file."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise InputError(f"model {path} does not exist; create it with `mpt-edge export CHECKPOINT --out {path.name}`")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # protobuf parse errors, unsupported opsets
        raise InputError(
            f"cannot load ONNX model {path} ({library_reason(error)}); re-export it with `mpt-edge export`"
        ) from None
    raw = session.get_modelmeta().custom_metadata_map.get(KEY)
    if raw is None:
        raise InputError(
            f"{path} carries no mpt-edge metadata: it was not written by `mpt-edge export`; export the checkpoint again"
        )
    meta = json.loads(raw)
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{path} has mpt-edge metadata version {meta.get('format_version')} (this "
            f"mpt-edge reads {FORMAT_VERSION}); re-export it with this version"
        )
    _check_inputs(path, meta, {i.name: list(i.shape) for i in session.get_inputs()})
    return dict(meta)


def input_shapes(meta: dict[str, Any]) -> dict[str, list[int]]:
    """The model's input shapes (batch 1) as its metadata defines them: the ViT image at the face size,
    the motion prompts of the prompt variant's (tokens, features). One definition for the bundle's
    manifest and the check of an exported model."""
    from mpt_edge.motion.config import MotionConfig

    motion = MotionConfig.from_dict(meta["motion_config"])
    size, tokens = motion.face_size, [1, *motion.token_shape]
    return {name: [1, 3, size, size] if name == "apex" else tokens for name in meta["inputs"]}


def _check_inputs(path: Path, meta: dict[str, Any], graph: dict[str, list[Any]]) -> None:
    """The graph's inputs are the metadata's, of the shapes it defines (a dynamic axis matches any size):
    an edited model was found only at the first inference, as ONNX Runtime's InvalidArgument."""
    try:
        declared = input_shapes(meta)
    except (KeyError, TypeError, InputError) as error:
        raise InputError(f"{path}: its mpt-edge metadata is damaged ({error}); export the checkpoint again") from None
    for name, shape in declared.items():
        if name not in graph:
            raise InputError(
                f"{path}: the metadata names input {name!r}, the graph has {sorted(graph)}; export the checkpoint again"
            )
        actual = graph[name]
        same = len(shape) == len(actual) and all(not isinstance(a, int) or a == d for a, d in zip(actual, shape))
        if not same:
            raise InputError(
                f"{path}: input {name!r} has shape {actual} in the graph but {shape} by its mpt-edge metadata "
                "(the model was edited after export); export the checkpoint again"
            )
