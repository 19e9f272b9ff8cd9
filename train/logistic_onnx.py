"""A logistic regression as a tiny ONNX model (P = sigmoid(x @ w + b)): how the spotter's learned parts — the
talking recogniser, the ME scorer — reach the device, which runs them with the onnxruntime it already has."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np


def write_logistic_onnx(
    path: Path, weights: np.ndarray, bias: float, names: tuple[str, str], metadata: Mapping[str, str]
) -> Path:
    """Input ``names[0]`` (1, n) float32, output ``names[1]`` (1, 1); ``metadata`` (the threshold chosen with the
    model, what it was trained on) in the model's metadata; checked, written atomically."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from mpt_edge.io import atomic_write_bytes

    source, target = names
    n = len(weights)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", [source, "w"], ["logit0"]),
            helper.make_node("Add", ["logit0", "b"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], [target]),
        ],
        target,
        [helper.make_tensor_value_info(source, TensorProto.FLOAT, [1, n])],
        [helper.make_tensor_value_info(target, TensorProto.FLOAT, [1, 1])],
        [
            numpy_helper.from_array(np.asarray(weights, np.float32).reshape(n, 1), "w"),
            numpy_helper.from_array(np.array([bias], np.float32), "b"),
        ],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="mpt-edge")
    proto.ir_version = 8  # onnxruntime 1.17+ reads it
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    return atomic_write_bytes(path, proto.SerializeToString())
