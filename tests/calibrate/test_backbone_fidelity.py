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
    inits = [
        numpy_helper.from_array(np.ones(4, np.float32), "g"),
        numpy_helper.from_array(np.zeros(4, np.float32), "b"),
        numpy_helper.from_array(np.array([scale], np.float32), "s"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
        inits,
    )
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


def test_layers_with_subnormal_fp16_weight_scales_stay_fp32(tmp_path):
    """A per-channel weight scale below 2^-14 is an FP16 subnormal: that layer (and its DQ) stays FP32
    in the strongly typed model; a layer with ordinary scales becomes FP16. Both still compute."""
    import onnxruntime as ort

    from calibrate.mixed_precision import subnormal_scale_layers, to_mixed_precision

    rng = np.random.default_rng(0)

    def qdq_matmul(prefix: str, x: str, scale: float):
        w = rng.integers(-127, 128, (4, 4)).astype(np.int8)
        inits = [
            numpy_helper.from_array(w, f"{prefix}_wq"),
            numpy_helper.from_array(np.full(4, scale, np.float32), f"{prefix}_ws"),
            numpy_helper.from_array(np.zeros(4, np.int8), f"{prefix}_wz"),
        ]
        nodes = [
            helper.make_node(
                "DequantizeLinear",
                [f"{prefix}_wq", f"{prefix}_ws", f"{prefix}_wz"],
                [f"{prefix}_w"],
                name=f"{prefix}_dq",
                axis=1,
            ),
            helper.make_node("MatMul", [x, f"{prefix}_w"], [f"{prefix}_y"], name=f"{prefix}_mm"),
        ]
        return nodes, inits

    tiny_nodes, tiny_inits = qdq_matmul("tiny", "x", 4e-6)
    big_nodes, big_inits = qdq_matmul("big", "tiny_y", 1e-2)
    nodes = tiny_nodes + big_nodes + [helper.make_node("Relu", ["big_y"], ["y"], name="relu")]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
        tiny_inits + big_inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    assert sorted(subnormal_scale_layers(model.graph)) == ["tiny_dq", "tiny_mm"]
    onnx.save(model, str(tmp_path / "q.onnx"))
    to_mixed_precision(tmp_path / "q.onnx", tmp_path / "mixed.onnx")
    mixed = onnx.shape_inference.infer_shapes(onnx.load(str(tmp_path / "mixed.onnx")))
    types = {v.name: v.type.tensor_type.elem_type for v in mixed.graph.value_info}
    nodes = {n.name: n for n in mixed.graph.node}
    assert (
        types[nodes["tiny_dq"].output[0]] == TensorProto.FLOAT
        and types[nodes["big_dq"].output[0]] == TensorProto.FLOAT16
    )
    # each weight's DQ feeds its MatMul directly (the Q/DQ pattern TensorRT fuses), no Cast between
    assert nodes["tiny_dq"].output[0] in nodes["tiny_mm"].input and nodes["big_dq"].output[0] in nodes["big_mm"].input
    x = {"x": rng.standard_normal((2, 4)).astype(np.float32) * 1e4}
    reference = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"]).run(None, x)[0]
    got = ort.InferenceSession(str(tmp_path / "mixed.onnx"), providers=["CPUExecutionProvider"]).run(None, x)[0]
    np.testing.assert_allclose(got, reference, rtol=2e-2, atol=2e-2 * np.abs(reference).max())


def test_the_tensorrt_model_is_checked_op_by_op(tmp_path):
    """ORT's CPU fusions of FP16 Q/DQ Gemms overflowed on a pretrained ViT: the strongly typed model is
    run as written (no graph optimizations) wherever it is checked on the CPU."""
    import inspect

    import onnxruntime as ort

    from calibrate import report, run
    from mpt_edge.engines import open_engine
    from targets import build

    tiny_graph(tmp_path / "a.onnx", 1.0)
    level = open_engine(tmp_path / "a.onnx", optimize=False).session.get_session_options().graph_optimization_level
    assert level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    assert open_engine(tmp_path / "a.onnx").session.get_session_options().graph_optimization_level != level
    from mpt_edge.backends import Backend

    # one fact in the backends' table: only TensorRT's strongly typed model is checked as written
    assert [b for b in Backend if b.spec.checked_as_written] == [Backend.TENSORRT]
    for function in (report.accuracy_report, run.calibrate_model):
        assert "spec.checked_as_written" in " ".join(inspect.getsource(function).split())
    source = inspect.getsource(build._build_in)  # jetson-* and triton-gpu carry the strongly typed model
    assert "Backend(b).spec.checked_as_written for b in (profile.backend, profile.calibration)" in source
    assert "optimize=not as_written" in source
