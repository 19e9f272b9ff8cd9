"""The TensorRT builder asks for a strongly typed network and sets no precision flag, so the same code
builds on TensorRT 10 (JetPack 6: ``STRONGLY_TYPED`` exists, weak-typing flags too) and TensorRT 11
(pip: no FP16/INT8 flags, no DLA). No GPU here: these tests drive :func:`build_engine` with stand-in
``tensorrt`` modules that record what it asks for and refuse what each version lacks; a real build
is the GPU check of the README."""

from __future__ import annotations

import sys
import types
from enum import IntEnum

import pytest

from mpt_edge.engines import tensorrt as trt_engine
from mpt_edge.errors import MptEdgeError


def fake_tensorrt(version: str, strongly_typed_flag: bool, dla_cores: int):
    calls: dict = {"flags": [], "network_flags": None}
    module = types.ModuleType("tensorrt")
    module.__version__ = version
    members = {"EXPLICIT_BATCH": 0, **({"STRONGLY_TYPED": 5} if strongly_typed_flag else {})}
    module.NetworkDefinitionCreationFlag = IntEnum("NetworkDefinitionCreationFlag", members)
    builder_flags = {"GPU_FALLBACK": 3} if version.startswith("10") else {"REFIT": 1}  # 11: no FP16 / INT8
    if version.startswith("10"):
        builder_flags.update({"FP16": 0, "INT8": 1})
    module.BuilderFlag = IntEnum("BuilderFlag", builder_flags)
    module.DeviceType = IntEnum("DeviceType", {"GPU": 0, **({"DLA": 1} if version.startswith("10") else {})})
    module.MemoryPoolType = IntEnum("MemoryPoolType", {"WORKSPACE": 0})

    class Logger:
        WARNING = 2

        def __init__(self, level):
            pass

    class Tensor:
        name, shape = "apex", (1, 3, 224, 224)

    class Network:
        num_inputs = 1

        def get_input(self, i):
            return Tensor()

    class Parser:
        num_errors = 0

        def __init__(self, network, logger):
            pass

        def parse(self, data):
            return True

    class Cache:
        def serialize(self):
            return b"cache"

    class Config:
        builder_optimization_level = 3

        def set_memory_pool_limit(self, pool, size):
            pass

        def set_flag(self, flag):
            calls["flags"].append(flag.name)

        def add_optimization_profile(self, profile):
            pass

        def create_timing_cache(self, data):
            return Cache()

        def set_timing_cache(self, cache, ignore_mismatch):
            pass

        def get_timing_cache(self):
            return Cache()

    class Profile:
        def set_shape(self, *args):
            pass

    class Builder:
        num_DLA_cores = dla_cores

        def __init__(self, logger):
            pass

        def create_network(self, flags=0):
            calls["network_flags"] = flags
            return Network()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            return b"engine"

    module.Logger, module.Builder, module.OnnxParser = Logger, Builder, Parser
    return module, calls


@pytest.mark.parametrize("version, has_flag", [("10.3.0", True), ("11.1.0", False), ("11.1.0", True)])
def test_both_tensorrt_majors_build_strongly_typed_without_precision_flags(tmp_path, monkeypatch, version, has_flag):
    module, calls = fake_tensorrt(version, has_flag, dla_cores=0)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr(trt_engine, "gpu_name", lambda: "test GPU")
    onnx_path = tmp_path / "model_int8_qdq.onnx"
    onnx_path.write_bytes(b"onnx")
    info = trt_engine.build_engine(onnx_path, tmp_path / "model.engine", {"workspace_mb": 64}, log=lambda *_: None)
    assert calls["network_flags"] == (1 << 5 if has_flag else 0)
    assert not {"FP16", "INT8"} & set(calls["flags"])
    assert (tmp_path / "model.engine").read_bytes() == b"engine" and info["tensorrt_version"] == version


@pytest.mark.parametrize("version, cores", [("11.1.0", 0), ("10.3.0", 0)])
def test_dla_where_tensorrt_or_the_device_has_none_is_one_line_naming_the_gpu_target(
    tmp_path, monkeypatch, version, cores
):
    module, _ = fake_tensorrt(version, True, dla_cores=cores)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(b"onnx")
    with pytest.raises(MptEdgeError, match="DLA core 0 is not available.*--target jetson-orin"):
        trt_engine.build_engine(onnx_path, tmp_path / "model.engine", {"dla_core": 0}, log=lambda *_: None)


def test_dla_is_used_where_it_exists(tmp_path, monkeypatch):
    module, calls = fake_tensorrt("10.3.0", True, dla_cores=2)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr(trt_engine, "gpu_name", lambda: "Orin")
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(b"onnx")
    trt_engine.build_engine(onnx_path, tmp_path / "model.engine", {"dla_core": 1}, log=lambda *_: None)
    assert calls["flags"] == ["GPU_FALLBACK"]
