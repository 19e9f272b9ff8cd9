"""calibrate.backbone_fidelity compares the tokens the head reads, and would see a broken backbone."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from calibrate.backbone_fidelity import backbone_fidelity, final_tokens_name


def tiny_graph(path, scale: float) -> None:
    """x (1, 3, 4) -> LayerNorm -> *scale -> LayerNorm (the 'final' one) -> ReduceMean 'logits'."""
    nodes = [
        helper.make_node("LayerNormalization", ["x", "g", "b"], ["n1"], name="ln1"),
        helper.make_node("Mul", ["n1", "s"], ["m"]),
        helper.make_node("Add", ["m", "x"], ["r"]),
        helper.make_node("LayerNormalization", ["r", "g", "b"], ["tokens"], name="ln_final"),
        helper.make_node("ReduceMean", ["tokens"], ["logits"], keepdims=0),
    ]
    inits = [numpy_helper.from_array(np.ones(4, np.float32), "g"), numpy_helper.from_array(np.zeros(4, np.float32), "b"),
             numpy_helper.from_array(np.array([scale], np.float32), "s")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def test_identical_models_are_perfect_and_a_changed_one_is_not(tmp_path):
    tiny_graph(tmp_path / "a.onnx", 1.0)
    tiny_graph(tmp_path / "b.onnx", 1.0)
    tiny_graph(tmp_path / "c.onnx", -3.0)
    assert final_tokens_name(tmp_path / "a.onnx") == "tokens"
    feeds = [{"x": np.random.default_rng(i).standard_normal((1, 3, 4)).astype(np.float32)} for i in range(4)]
    same = backbone_fidelity(tmp_path / "a.onnx", tmp_path / "b.onnx", feeds, num_patches=2)
    assert same["cls"]["cosine_min"] > 0.99999 and same["cls"]["sqnr_db"] > 100
    changed = backbone_fidelity(tmp_path / "a.onnx", tmp_path / "c.onnx", feeds, num_patches=2)
    assert changed["cls"]["cosine_mean"] < 0.99 and changed["patch_tokens"]["sqnr_db"] < 20
