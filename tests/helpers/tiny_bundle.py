"""A tiny bundle for tests of the bundle format: a hand-made ONNX graph with the real input and
output names and the default motion config's shapes, so loading and engine checks run in milliseconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FACE, TOKENS, FEATURES, CLASSES = 224, 49, 6, 3  # the lk prompt variant's shapes


def tiny_onnx(path: Path, motion_shape: tuple[int, int] = (TOKENS, FEATURES), classes: int = CLASSES) -> Path:
    """logits = flatten(motion) @ W + 0 * mean(apex): the bundle's input and output names and shapes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).standard_normal((motion_shape[0] * motion_shape[1], classes)).astype(np.float32)
    nodes = [
        helper.make_node("Reshape", ["motion", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["scores"]),
        helper.make_node("ReduceMean", ["apex"], ["apex_mean"], keepdims=0),
        helper.make_node("Mul", ["apex_mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["scores", "nothing"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("apex", TensorProto.FLOAT, [1, 3, FACE, FACE]),
            helper.make_tensor_value_info("motion", TensorProto.FLOAT, [1, *motion_shape]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes])],
        [
            numpy_helper.from_array(weight, "W"),
            numpy_helper.from_array(np.array([1, -1], np.int64), "flat_shape"),
            numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, path)
    return path


def tiny_manifest(**changes: object) -> dict:
    from mpt_edge.motion.config import MotionConfig

    manifest = {
        "target": {"name": "onnxruntime-cpu", "options": {}},
        "backend": "onnxruntime",
        "precision": "fp32",
        "model_config": {"name": "tiny"},
        "motion_config": MotionConfig(face_size=FACE, prompt_variant="lk").to_dict(),
        "class_names": ["negative", "positive", "surprise"],
        "inputs": {"apex": [1, 3, FACE, FACE], "motion": [1, TOKENS, FEATURES]},
        "outputs": {"logits": [1, CLASSES]},
        "roles": {"model": "model.onnx"},
        "precisions": {"fp32": "model"},
    }
    manifest.update(changes)
    return manifest


def typed_manifest(**changes: object):
    """:func:`tiny_manifest` as the loader gives it (validated, typed), for tests that need a bundle's
    manifest without its files: every role's file listed with a placeholder hash."""
    from mpt_edge.manifest import SCHEMA_VERSION, parse_manifest

    data = tiny_manifest(**changes)
    data = {"schema_version": SCHEMA_VERSION, **data, "files": {name: "0" * 64 for name in data["roles"].values()}}
    return parse_manifest(data, "test bundle")
