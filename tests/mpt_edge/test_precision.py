"""Precision per device: a CPU bundle's INT8 and FP32 models are timed once on this CPU, the faster
kept and cached beside the bundle; another CPU re-decides; explicit choices and bad ones."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from helpers.tiny_bundle import typed_manifest

from mpt_edge import precision as precision_module
from mpt_edge.bundle import BundleFiles
from mpt_edge.errors import InputError
from mpt_edge.precision import decision_path, interleaved_times, resolve_precision, time_interleaved


class SleepyEngine:
    """An engine that takes a fixed time per inference."""

    def __init__(self, ms: float) -> None:
        self.ms, self.calls = ms, 0

    def infer(self, feeds):
        self.calls += 1
        time.sleep(self.ms / 1000)
        return np.zeros((1, 3), np.float32)


def fake_bundle(tmp_path, precisions=None) -> BundleFiles:
    root = tmp_path / "bundle"
    root.mkdir(exist_ok=True)
    changes: dict = {"precision": "int8", "source": {"fp32_onnx_sha256": "abc"}}
    if precisions is not False:
        changes["precisions"] = precisions or {"int8": "model", "fp32": "model_fp32"}
        changes["roles"] = {"model": "model.onnx", "model_fp32": "model_fp32.onnx"}
    else:
        changes["precisions"] = None
    return BundleFiles(root, typed_manifest(**changes))


def opener(speeds, opened):
    def open_engine(bundle, precision):
        opened.append(precision)
        return SleepyEngine(speeds[precision])

    return open_engine


@pytest.mark.parametrize(
    "speeds, expected", [({"int8": 1.0, "fp32": 4.0}, "int8"), ({"int8": 4.0, "fp32": 1.0}, "fp32")]
)
def test_auto_times_both_keeps_the_faster_and_caches_it_beside_the_bundle(tmp_path, speeds, expected):
    bundle, opened = fake_bundle(tmp_path), []
    assert resolve_precision(bundle, "auto", lambda m: None, opener(speeds, opened), seconds=0.1) == expected
    assert sorted(opened) == ["fp32", "int8"]
    decision = json.loads(decision_path(bundle).read_text())
    assert decision_path(bundle).parent == tmp_path and not (bundle.root / decision_path(bundle).name).exists()
    assert (
        decision["precision"] == expected
        and decision["latency_ms_p50"][expected] < min(decision["latency_ms_p50"].values()) + 1e-9
    )
    assert decision["identity"]["cpu"] and "flags" in decision["identity"]
    # the second start reads the cache: nothing is opened or timed
    assert (
        resolve_precision(bundle, "auto", lambda m: None, opener(speeds, opened := []), seconds=0.1) == expected
        and opened == []
    )


def test_another_cpu_or_a_corrupt_cache_re_decides(tmp_path, monkeypatch):
    bundle, opened = fake_bundle(tmp_path), []
    resolve_precision(bundle, "auto", lambda m: None, opener({"int8": 1.0, "fp32": 4.0}, opened), seconds=0.1)
    real = precision_module.cpu_identity
    monkeypatch.setattr(precision_module, "cpu_identity", lambda backend: {**real(backend), "cpu": "Some Other CPU"})
    opened.clear()
    assert (
        resolve_precision(bundle, "auto", lambda m: None, opener({"int8": 4.0, "fp32": 1.0}, opened), seconds=0.1)
        == "fp32"
        and opened
    )
    decision_path(bundle).write_text("{not json")
    opened.clear()
    assert (
        resolve_precision(bundle, "auto", lambda m: None, opener({"int8": 1.0, "fp32": 4.0}, opened), seconds=0.1)
        == "int8"
        and opened
    )


def test_explicit_precisions_and_bundles_with_one_model(tmp_path):
    bundle = fake_bundle(tmp_path)
    never = opener({}, [])
    assert (
        resolve_precision(bundle, "fp32", print, never) == "fp32"
        and resolve_precision(bundle, "int8", print, never) == "int8"
    )
    with pytest.raises(InputError, match="choose one of auto, int8, fp32"):
        resolve_precision(bundle, "fp16", print, never)
    single = fake_bundle(tmp_path, precisions=False)  # an older bundle: only its target's precision
    assert resolve_precision(single, "auto", print, never) == "int8" and not decision_path(single).exists()
    with pytest.raises(InputError, match="carries only int8"):
        resolve_precision(single, "fp32", print, never)


def test_a_read_only_location_still_runs(tmp_path, monkeypatch):
    bundle, said = fake_bundle(tmp_path), []

    def refuse(path, data):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(precision_module, "atomic_write_bytes", refuse)
    assert resolve_precision(bundle, "auto", said.append, opener({"int8": 1.0, "fp32": 4.0}, []), seconds=0.1) == "int8"
    assert any("re-measured on every start" in line for line in said)


def test_timing_interleaves_the_engines_round_by_round():
    fast, slow = SleepyEngine(0.5), SleepyEngine(2.0)
    latency = time_interleaved({"a": fast, "b": slow}, {}, seconds=0.1)
    assert latency["a"] < latency["b"] and fast.calls > 5 and slow.calls > 5
    order = []

    class Logged(SleepyEngine):
        def __init__(self, name):
            super().__init__(0.2)
            self.name = name

        def infer(self, feeds):
            order.append(self.name)
            return super().infer(feeds)

    times = interleaved_times({"a": Logged("a"), "b": Logged("b")}, {}, seconds=0.06, warmup=0, min_runs=6, rounds=3)
    blocks = [name for i, name in enumerate(order) if i == 0 or order[i - 1] != name]
    assert (
        blocks == ["a", "b"] * 3 and min(len(t) for t in times.values()) >= 6
    )  # every round measures each engine in turn


def test_a_capped_instruction_set_is_another_cpu(monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX512_CORE makes OpenVINO run as on a CPU without VNNI (INT8 measured 0.2-0.6x
    FP32 that way on Zen 5): a decision made without the cap must not be reused under it."""
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    plain = precision_module.cpu_identity("openvino")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    capped = precision_module.cpu_identity("openvino")
    assert capped != plain and capped["onednn_max_cpu_isa"] == "AVX512_CORE"


def test_openvino_under_an_isa_cap_without_bf16_runs_f32(tmp_path):
    """ONEDNN_MAX_CPU_ISA=AVX2 (the stand-in for an AVX2-only CPU): OpenVINO must not pick bf16, which
    the capped oneDNN has no kernels for (an INT8 IR failed to compile on an AMX CPU)."""
    import subprocess
    import sys

    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(tmp_path / "m.onnx"))
    code = (
        "from mpt_edge.engines.openvino import OpenVinoEngine, isa_capped_below_bf16; "
        f"e = OpenVinoEngine({str(tmp_path / 'm.onnx')!r}); "
        "print(isa_capped_below_bf16(), "
        "str(e.compiled.get_property('INFERENCE_PRECISION_HINT')).split(\"'\")[1])"
    )
    env = {**__import__("os").environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, check=True
    ).stdout.split()
    assert out[0] == "True" and out[1] == "float32", out
