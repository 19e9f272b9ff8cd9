"""The metadata an exported MPT ONNX model carries (``metadata_props["mpt_edge"]``, JSON): model and
motion configs, class names, input/output names and the held-out subjects of its training run.
Read with ONNX Runtime (the device has no ``onnx`` package), so every later stage knows how to feed
the model from the model file alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mpt_edge.errors import InputError

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
            f"cannot load ONNX model {path} ({str(error).splitlines()[0][:160]}); re-export it with `mpt-edge export`"
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
    return dict(meta)
