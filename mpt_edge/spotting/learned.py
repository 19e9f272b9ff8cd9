"""The spotter's learned parts — the talking recogniser, the ME scorer — are tiny logistic regressions in ONNX,
each with the threshold chosen with it in its metadata; this opens one, once per process."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def session_and_threshold(path: Path) -> tuple[object, float]:
    """An onnxruntime session on one thread (a few dozen to 145 weights: threads cost more than they buy) and
    the model's own threshold (0.5 where it names none)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    threshold = float(session.get_modelmeta().custom_metadata_map.get("threshold", "0.5"))
    return session, threshold
