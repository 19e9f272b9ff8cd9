"""Export to ONNX (parity with PyTorch) and INT8 calibration for OpenVINO, TensorRT (Q/DQ) and ONNX
Runtime: models load and run, reports are complete, calibration sets are stratified, and bad input
gets one clear line."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from app.cli import EXIT_USER_ERROR, app
from calibrate.backends import FLOAT_KEPT_PREFIXES, float_kept_nodes
from calibrate.sampling import stratified_indices
from mpt_edge.engines import open_engine
from mpt_edge.errors import InputError
from mpt_edge.motion.config import MotionConfig
from mpt_edge.onnx_meta import read_onnx_meta
from train.checkpoint import load_model
from train.configs import REGISTRY, MPTConfig
from train.export import sample_inputs
from train.session import synthetic_of_model

FEATURES = MotionConfig().num_features  # of the default prompt variant

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore:Detected pickle protocol"
)
runner = CliRunner()
MICRO = MPTConfig("mpt-micro", embed_dim=32, depth=1, num_heads=2, adapter_dim=4)
DATA = ["--dataset", "synthetic", "--synthetic-subjects", "4", "--synthetic-clips", "2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A micro model trained for one epoch on a tiny synthetic set; its checkpoint and data root."""
    base = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(REGISTRY, "mpt-micro", MICRO)
        result = runner.invoke(
            app,
            [
                "train",
                "--root",
                str(base / "data"),
                *DATA[2:],
                "--model",
                "mpt-micro",
                "--epochs",
                "1",
                "--out",
                str(base / "run"),
            ],
        )
        assert result.exit_code == 0, result.output
    return base


@pytest.fixture(scope="module")
def exported(trained):
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(REGISTRY, "mpt-micro", MICRO)
        out = trained / "model.onnx"
        result = runner.invoke(app, ["export", str(trained / "run" / "best.pt"), "--out", str(out), "--json"])
        assert result.exit_code == 0, result.output
        return out, json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture(autouse=True)
def micro_config(monkeypatch):
    monkeypatch.setitem(REGISTRY, "mpt-micro", MICRO)


def test_export_matches_pytorch_and_carries_its_metadata(trained, exported):
    path, summary = exported
    assert summary["max_abs_logit_difference"] <= 1e-4 and summary["opset"] == 18
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["apex", "motion"] and [o.name for o in proto.graph.output] == [
        "logits"
    ]
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 224, 224]
    meta = read_onnx_meta(path)
    assert meta["class_names"] == ["negative", "positive", "surprise"] and meta["held_out_subjects"] == ["sub02"]
    # Independent parity check on real inputs the exporter did not use.
    model, _ = load_model(trained / "run" / "best.pt")
    images, motion = sample_inputs(model, count=4, seed=11)
    engine = open_engine(path)
    for i in range(4):
        ours = engine.infer({"apex": images[i : i + 1], "motion": motion[i : i + 1]})
        with torch.no_grad():
            reference = model(torch.from_numpy(images[i : i + 1]), torch.from_numpy(motion[i : i + 1])).numpy()
        assert np.abs(ours - reference).max() <= 1e-4


def test_dynamic_batch_export(trained, tmp_path):
    out = tmp_path / "dyn.onnx"
    result = runner.invoke(
        app, ["export", str(trained / "run" / "best.pt"), "--out", str(out), "--dynamic-batch", "--json"]
    )
    assert result.exit_code == 0, result.output
    rng = np.random.default_rng(0)
    logits = open_engine(out).infer(
        {
            "apex": rng.standard_normal((5, 3, 224, 224), dtype=np.float32),
            "motion": rng.standard_normal((5, 49, FEATURES), dtype=np.float32),
        }
    )
    assert logits.shape == (5, 3)


@pytest.mark.parametrize("backend, suffix", [("openvino", ".xml"), ("tensorrt", ".onnx"), ("onnxruntime", ".onnx")])
def test_calibrate_writes_a_runnable_int8_model_and_a_report(trained, exported, tmp_path, backend, suffix):
    path, _ = exported
    out = tmp_path / backend
    result = runner.invoke(
        app,
        [
            "calibrate",
            str(path),
            "--backend",
            backend,
            "--out",
            str(out),
            "--root",
            str(trained / "data"),
            "--size",
            "8",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # stdout is the JSON alone (NNCF's progress bars go to stderr)
    int8 = out / ("model_int8.xml" if backend == "openvino" else f"model_int8_qdq_{backend}.onnx")
    assert (
        int8.suffix == suffix and int8.is_file() and json.loads((out / f"report_{backend}.json").read_text()) == report
    )
    assert (
        report["calibration_clips"] == 8 and report["held_out_subjects"] == ["sub02"] and report["held_out_clips"] == 6
    )
    assert (
        0 <= report["agreement"] <= 1 and report["bytes"]["int8"] > 0
    )  # (a 56k-parameter model is not smaller in INT8)
    assert report["most_sensitive_tensors"] and all(np.isfinite(r["sqnr_db"]) for r in report["most_sensitive_tensors"])
    assert set(report["int8"]) >= {"uf1", "uar", "accuracy"} and report["latency_ms_batch1"]
    backbone = report["backbone"]  # what the head reads, FP32 vs INT8, not only the logits
    assert backbone["clips"] == 6 and backbone["tensor"]
    for part in ("cls", "patch_tokens"):
        assert 0.5 < backbone[part]["cosine_min"] <= backbone[part]["cosine_mean"] <= 1.0 + 1e-9
        assert np.isfinite(backbone[part]["sqnr_db"]) and backbone[part]["sqnr_db"] > 0
    logits = open_engine(int8).infer(
        {"apex": np.zeros((1, 3, 224, 224), np.float32), "motion": np.zeros((1, 49, FEATURES), np.float32)}
    )
    assert logits.shape == (1, 3) and np.isfinite(logits).all()
    assert float_kept_layers_are_float(int8, float_kept_nodes(path))
    if suffix == ".onnx":
        proto = onnx.load(str(int8))
        quantizers = [n for n in proto.graph.node if n.op_type == "QuantizeLinear"]
        assert quantizers and {
            n.op_type for n in proto.graph.node if n.op_type in ("LayerNormalization", "Softmax")
        } <= {"LayerNormalization", "Softmax"}
        zero_points = {
            init.name: onnx.numpy_helper.to_array(init)
            for init in proto.graph.initializer
            if init.name.endswith("zero_point")
        }
        if backend == "tensorrt":  # TensorRT needs symmetric signed INT8: every zero point 0, int8
            assert all(z.dtype == np.int8 and not z.any() for z in zero_points.values())
        assert json.loads(dict((p.key, p.value) for p in proto.metadata_props)["mpt_edge"])["class_names"]


def test_the_tensorrt_model_is_strongly_typed_int8_fp16_with_fp32_where_accuracy_needs_it(trained, exported, tmp_path):
    """TensorRT 11 builds only strongly typed networks: the ONNX model itself must say FP16 for the
    unquantized layers (opset 19 Q/DQ with FP16 scales), FP32 for LayerNorm, Softmax and the prompt
    path, FP32 inputs/outputs; checked here in ONNX Runtime against FP32."""
    path, _ = exported
    out = tmp_path / "trt"
    result = runner.invoke(
        app,
        [
            "calibrate",
            str(path),
            "--backend",
            "tensorrt",
            "--out",
            str(out),
            "--root",
            str(trained / "data"),
            "--size",
            "8",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    model = onnx.shape_inference.infer_shapes(onnx.load(str(out / "model_int8_qdq_tensorrt.onnx")))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 19
    onnx.checker.check_model(model)  # topologically sorted, as TensorRT's parser reads it
    graph = model.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}
    types.update({i.name: i.data_type for i in graph.initializer})
    FLOAT, FLOAT16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    assert all(types[t.name] == FLOAT for t in [*graph.input, *graph.output])
    assert {types[n.input[0]] for n in graph.node if n.op_type in ("LayerNormalization", "Softmax")} == {FLOAT}
    from calibrate.mixed_precision import subnormal_scale_layers

    weights = {i.name for i in graph.initializer}
    producers = {out: n for n in graph.node for out in n.output}

    def is_weight(name: str) -> bool:  # an initializer, or an initializer behind its DequantizeLinear (and Casts)
        node = producers.get(name)
        while node is not None and node.op_type in ("DequantizeLinear", "Cast") and node.input[0] not in weights:
            node = producers.get(node.input[0])
        return name in weights or (node is not None and node.op_type == "DequantizeLinear")

    attention = [n for n in graph.node if n.op_type == "MatMul" and not any(is_weight(i) for i in n.input)]
    assert attention, "the ViT's attention MatMuls"
    for node in attention:  # q·kᵀ and softmax·v stay FP16 (TensorRT's fused attention), never INT8
        assert not any(
            producers.get(i) is not None and producers[i].op_type == "DequantizeLinear" for i in node.input
        ), node.name

    fp32_layers = set(subnormal_scale_layers(graph))  # weight scales FP16 holds only as subnormals: layer kept FP32
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and not node.input[0].startswith(("prompt_readout.", "motion_embed.")):
            assert types[node.output[0]] == (FLOAT if node.name in fp32_layers else FLOAT16), node.name
    kept = set(float_kept_nodes(path))
    for node in graph.node:
        if node.name in kept:  # the prompt projections read FP32
            assert types[node.output[0]] == FLOAT, node.name
    assert report["precision"].startswith("INT8 Q/DQ + FP16") and report["agreement"] >= 5 / 6
    assert 0 <= report["max_abs_logit_difference"] < 1.0


def test_calibration_set_is_stratified_by_class_and_subject():
    labels = np.repeat([0, 1, 2], 40)
    subjects = [f"s{i % 8}" for i in range(120)]
    chosen = stratified_indices(labels, subjects, size=48, seed=3)
    assert len(chosen) == 48 and len(set(chosen.tolist())) == 48
    groups = Counter((int(labels[i]), subjects[i]) for i in chosen)
    assert len(groups) == 24 and set(groups.values()) == {2}  # every (class, subject) group, equally
    assert np.array_equal(chosen, stratified_indices(labels, subjects, size=48, seed=3))
    assert not np.array_equal(chosen, stratified_indices(labels, subjects, size=48, seed=4))
    assert len(stratified_indices(labels, subjects, size=500)) == 120  # all when fewer than asked
    with pytest.raises(InputError, match="too small"):
        stratified_indices(labels, subjects, size=2)
    with pytest.raises(InputError, match="empty"):
        stratified_indices([], [], size=300)


def test_bad_models_and_data_are_one_clear_line(trained, exported, tmp_path):
    path, _ = exported
    foreign = tmp_path / "foreign.onnx"
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    onnx.save(proto, str(foreign))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    cases = [
        (["calibrate", str(foreign)], "carries no mpt-edge metadata"),
        (["calibrate", str(garbage)], "cannot load ONNX model"),
        (["calibrate", str(tmp_path / "none.onnx")], "does not exist"),
        (["calibrate", str(path), "--backend", "tpu", "--root", str(trained / "data")], "unknown --backend 'tpu'"),
        (["calibrate", str(path), "--size", "3", "--root", str(trained / "data")], "too small a calibration set"),
        (
            ["calibrate", str(path), "--backend", "tensorrt", "--max-drop", "0.01", "--root", str(trained / "data")],
            "--max-drop is implemented for --backend openvino",
        ),
        (["export", str(trained / "run" / "best.pt"), "--out", str(tmp_path / "model.bin")], "must end in .onnx"),
        (["export", str(garbage)], "not an mpt-edge checkpoint"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*args, "--out", str(tmp_path / "o")] if args[0] == "calibrate" else args)
        assert result.exit_code == EXIT_USER_ERROR, (args, result.output)
        assert message in result.output and "Traceback" not in result.output, (message, result.output)


def test_calibration_data_of_another_face_size_is_refused(exported, tmp_path):
    from calibrate.run import calibrate_model
    from train.data.pairs import PairSet

    path, _ = exported
    small = PairSet(
        np.zeros((10, 64, 64, 3), np.uint8),
        np.zeros((10, 64, 64, 3), np.uint8),
        np.zeros(10, np.int64),
        ["a"] * 10,
        ["k"] * 10,
    )
    with pytest.raises(InputError, match="64px faces but .* expects 224px"):
        calibrate_model(path, "onnxruntime", tmp_path, small, size=8)


@pytest.mark.slow
def test_bench_int8_matrix_measures_every_route_it_names(trained, tmp_path):
    """The route matrix builds each route with the project's quantizers, scores it on held-out clips
    and times it; its figures belong to the README and the closing notes."""
    from helpers.benchmarks import run_benchmark

    routes = ["openvino_int8_smoothquant", "openvino_fp32_int8_weights", "onnxruntime_qoperator", "onnxruntime_dynamic"]
    report = run_benchmark(
        "bench_int8.py",
        "--models",
        "mpt-micro",
        "--checkpoint",
        f"mpt-micro={trained / 'run' / 'best.pt'}",
        "--routes",
        ",".join(routes),
        "--rounds",
        "1",
        "--seconds",
        "0.1",
        "--calibration-size",
        "8",
        "--eval-clips",
        "6",
        "--chart",
        str(tmp_path / "int8.png"),
        timeout=300,
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    measured = report["models"]["mpt-micro"]["routes"]
    assert list(measured) == ["openvino_fp32", *routes]  # the FP32 reference is always measured
    for name, route in measured.items():
        assert route["p50_ms"] > 0 and route["p99_ms"] >= route["p50_ms"] and route["throughput_per_s"] > 0, name
        assert 0 <= route["uf1"] <= 1 and 0 <= route["agreement_with_fp32"] <= 1 and route["megabytes"] > 0, name
    assert (
        measured["openvino_fp32"]["speedup_p50_vs_fp32"] == 1.0 and measured["openvino_fp32"]["max_abs_dlogit"] == 0.0
    )
    for name in ("openvino_int8_smoothquant", "onnxruntime_qoperator"):  # the backbone's own fidelity per INT8 route
        assert (
            0.5 < measured[name]["backbone_cls_cosine"] <= 1.0 + 1e-9 and measured[name]["backbone_cls_sqnr_db"] > 0
        ), name
    assert report["models"]["mpt-micro"]["data"]["held_out_clips"] == 6 and "int8_flags" in report["machine"]
    assert (tmp_path / "int8.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_bench_cpu_settings_reports_each_setting_and_the_runtime_graph(tmp_path):
    from helpers.benchmarks import run_benchmark

    checkpoint = tmp_path / "micro.pt"
    from train.checkpoint import save_checkpoint
    from train.model import MPT

    save_checkpoint(checkpoint, MPT(MICRO).eval(), ["negative", "positive", "surprise"])
    report = run_benchmark(
        "bench_cpu_settings.py",
        "--checkpoint",
        str(checkpoint),
        "--skip-sequence",
        "--rounds",
        "1",
        "--seconds",
        "0.05",
        timeout=300,
    )
    assert {
        "openvino_fp32_hint_latency",
        "openvino_int8_latency_threads_1",
        "openvino_int8_latency_pinning_off",
        "onnxruntime_qdq_threads_1_all",
    } <= set(report["p50_ms"])
    graph = report["openvino_runtime_graph"]["int8"]
    assert any(
        key.startswith("FullyConnected:") and key.split(":")[1] in ("u8", "i8")
        for key in graph["layers_by_type_and_precision"]
    )
    assert (
        abs(sum(graph["time_share_by_layer_type"].values()) - 1) < 0.05 or len(graph["time_share_by_layer_type"]) == 8
    )


def float_kept_layers_are_float(int8_model, names) -> bool:
    """The prompt projection and the prompt read-out compute in float: their inputs are not dequantized
    INT8 (Q/DQ ONNX) / not fake-quantized (OpenVINO IR)."""
    if int8_model.suffix == ".onnx":
        graph = onnx.load(str(int8_model)).graph
        producers = {out: node.op_type for node in graph.node for out in node.output}
        kept = [
            n
            for n in graph.node
            if any(i.startswith(FLOAT_KEPT_PREFIXES) for i in n.input) and n.op_type in ("Gemm", "MatMul")
        ]
        return len(kept) == 2 and all(producers.get(i) != "DequantizeLinear" for n in kept for i in n.input)
    import openvino as ov

    kept = [
        op
        for op in ov.Core().read_model(str(int8_model)).get_ordered_ops()
        if op.get_type_name() == "MatMul" and op.get_friendly_name().split("/")[0] in names
    ]
    quantized = {"FakeQuantize", "FakeConvert"}

    def fed_by_fake_quantize(op) -> bool:  # through a Convert/Reshape or directly
        for src in op.inputs():
            node = src.get_source_output().get_node()
            while node.get_type_name() in ("Convert", "Reshape") and node.inputs():
                node = node.input(0).get_source_output().get_node()
            if node.get_type_name() in quantized:
                return True
        return False

    return len(kept) == 2 and not any(fed_by_fake_quantize(op) for op in kept)


def test_float_kept_nodes_are_the_prompt_layers(exported):
    path, _ = exported
    graph = onnx.load(str(path)).graph
    names = float_kept_nodes(path)
    kept = [n for n in graph.node if n.name in names]
    assert len(kept) == 2 and {i.split(".")[0] for n in kept for i in n.input} >= {"prompt_readout", "motion_embed"}


def test_exported_model_names_its_training_data_and_calibration_defaults_to_it(exported):
    path, _ = exported
    meta = read_onnx_meta(path)
    assert meta["training_data"]["dataset"] == "synthetic"
    spec = synthetic_of_model(meta)
    assert (spec.subjects, spec.clips_per_class, spec.preset) == (4, 2, "easy")
    assert synthetic_of_model({"training_data": {"dataset": "casme2"}}) is None and synthetic_of_model({}) is None


def test_accuracy_aware_openvino_calibration(trained, exported, tmp_path):
    path, _ = exported
    result = runner.invoke(
        app,
        [
            "calibrate",
            str(path),
            "--backend",
            "openvino",
            "--max-drop",
            "0.5",
            "--out",
            str(tmp_path),
            "--root",
            str(trained / "data"),
            "--size",
            "8",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report_openvino.json").read_text())
    assert report["max_drop"] == 0.5 and report["fp32"]["uf1"] - report["int8"]["uf1"] <= 0.5 + 1e-9
    assert (tmp_path / "model_int8.xml").is_file()


def test_the_shipped_openvino_int8_has_no_smoothquant(exported, tmp_path):
    """SmoothQuant is off by default (README "INT8 on CPUs": no accuracy gained, and with it the
    attention MatMuls ran in bf16, 0.3-0.6x FP32 without native bf16); the option still works."""
    import openvino as ov

    from calibrate.backends import quantize_openvino
    from train.export import feeds as model_feeds
    from train.export import sample_inputs

    path, _ = exported
    model, _ = load_model(path.parent / "run" / "best.pt")
    images, motion = sample_inputs(model, count=8)
    calibration = [model_feeds(model, images[i : i + 1], motion[i : i + 1]) for i in range(8)]

    def smoothing_ops(smooth_quant: bool) -> list[str]:
        ir = quantize_openvino(
            path, tmp_path / f"sq{smooth_quant}.xml", calibration, **({"smooth_quant": True} if smooth_quant else {})
        )
        return [
            op.get_friendly_name()
            for op in ov.Core().read_model(str(ir)).get_ordered_ops()
            if "smooth_quant" in op.get_friendly_name()
        ]

    assert smoothing_ops(False) == [] and smoothing_ops(True)


@pytest.mark.slow
def test_calibrate_into_a_pipe_is_quiet_unless_verbose(trained, exported, tmp_path):
    """No third-party log lines and no progress-bar debris in a pipe; --verbose brings NNCF's back."""
    import subprocess
    import sys

    path, _ = exported
    base = [sys.executable, "-m", "app.cli"]
    args = ["calibrate", str(path), "--backend", "openvino", "--root", str(trained / "data"), "--size", "8"]
    quiet = subprocess.run(base + args + ["--out", str(tmp_path / "q")], capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    text = quiet.stdout + quiet.stderr
    assert "INFO:nncf" not in text and "Statistics collection" not in text and "wrote" in text
    loud = subprocess.run(
        base + ["--verbose"] + args + ["--out", str(tmp_path / "v")], capture_output=True, text=True, timeout=300
    )
    assert loud.returncode == 0 and "Statistics collection" in loud.stdout + loud.stderr
