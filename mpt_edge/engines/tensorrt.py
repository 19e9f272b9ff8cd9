"""TensorRT engine: build a strongly typed engine from the INT8 Q/DQ + FP16 ONNX model and run it.

Strongly typed, for TensorRT 10 (JetPack 6 ships 10.3) and 11 (what pip installs, which builds
nothing else): the model's own tensor types decide every layer's precision (``calibrate.mixed_precision``
made them), so no precision flags are set and the TensorRT version decides nothing else.

One builder serves three callers: ``mpt-edge build`` on a workstation with an NVIDIA GPU, the
bundle's ``build_engine.py`` on the Jetson, and the runtime, which builds and caches the engine on
first start when the bundle has none. An engine only runs on the GPU model and TensorRT version it
was built with: ``engine.json`` beside it records both, and a mismatch is a clear "rebuild" message.

Inference uses the TensorRT 10 tensor API with CUDA memory from ``cuda-python`` (``[tensorrt]``
extra). Nothing here is imported unless a TensorRT engine is actually opened.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mpt_edge.backends import TensorRtOptions, options_of
from mpt_edge.engines.base import EngineBase
from mpt_edge.errors import InputError, MptEdgeError
from mpt_edge.io import atomic_write_bytes

ENGINE = "model.engine"
ENGINE_INFO = "engine.json"
TIMING_CACHE = "timing.cache"


def _tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ImportError:
        raise MptEdgeError(
            "TensorRT is not installed here: pip install 'mpt-edge[tensorrt]' (on Jetson: JetPack's python3-libnvinfer)"
        ) from None
    return trt


def gpu_name() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    model = Path("/proc/device-tree/model")  # Jetson: no nvidia-smi, the board name says it
    return model.read_text(errors="ignore").strip("\x00\n ") if model.is_file() else "unknown"


def build_engine(
    onnx_path: Path, engine_path: Path, options: dict[str, Any], log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Serialize an engine for this GPU from the strongly typed INT8/FP16 ONNX; returns what engine.json records."""
    import time

    trt = _tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(strongly_typed_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise MptEdgeError(f"TensorRT cannot parse {onnx_path}: {errors[:300]}")
    config = builder.create_builder_config()
    chosen = options_of(TensorRtOptions, options)
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(chosen.workspace_mb) << 20)
    # No precision flags: the network is strongly typed, so the ONNX model's own tensor types decide
    # (INT8 from its Q/DQ nodes, FP16/FP32 from calibrate.mixed_precision). TensorRT 11 has no such flags.
    config.builder_optimization_level = int(chosen.builder_optimization_level)
    if chosen.dla_core is not None:
        check_dla(trt, builder, int(chosen.dla_core))
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(chosen.dla_core)
        if chosen.gpu_fallback:
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = tuple(max(1, d) for d in tensor.shape)  # a dynamic batch is pinned to 1: one camera stream
        profile.set_shape(tensor.name, shape, shape, shape)
    config.add_optimization_profile(profile)
    cache_path = Path(engine_path).parent / TIMING_CACHE
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise MptEdgeError(
            f"TensorRT could not build an engine from {onnx_path}; run with TensorRT verbose "
            "logging to see the failing layer"
        )
    seconds = time.perf_counter() - started
    atomic_write_bytes(engine_path, bytes(serialized))
    atomic_write_bytes(cache_path, bytes(config.get_timing_cache().serialize()))
    info = {
        "tensorrt_version": trt.__version__,
        "gpu": gpu_name(),
        "onnx": Path(onnx_path).name,
        "build_seconds": round(seconds, 1),
        "options": options,
    }
    atomic_write_bytes(Path(engine_path).parent / ENGINE_INFO, json.dumps(info, indent=2).encode())
    log(f"built {engine_path} in {seconds:.1f} s with TensorRT {trt.__version__} on {info['gpu']}")
    return info


def strongly_typed_flags(trt: Any) -> int:
    """``create_network`` flags for a strongly typed network: TensorRT 10 asks for it with
    ``STRONGLY_TYPED``; in TensorRT 11 every network is strongly typed (the flag may be gone)."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 1 << int(flag) if flag is not None else 0


def check_dla(trt: Any, builder: Any, core: int) -> None:
    """DLA only where this TensorRT and device have it (TensorRT 11 dropped DLA; only Jetson AGX Orin
    and Orin NX carry DLA cores): otherwise one line naming the target to use instead."""
    cores = int(getattr(builder, "num_DLA_cores", 0) or 0) if hasattr(trt.DeviceType, "DLA") else 0
    if core >= cores:
        raise MptEdgeError(
            f"DLA core {core} is not available with TensorRT {trt.__version__} on this device ({cores} DLA core(s)); "
            "build with --target jetson-orin (GPU) instead"
        )


def check_engine_info(folder: Path, installed_version: str, gpu: str) -> None:
    """A clear message when an engine was built by another TensorRT version or on another GPU."""
    info_path = folder / ENGINE_INFO
    if not info_path.is_file():
        return
    info = json.loads(info_path.read_text())
    if info.get("tensorrt_version") != installed_version or (
        gpu != "unknown" and info.get("gpu") not in (None, "unknown", gpu)
    ):
        raise InputError(
            f"{folder / ENGINE} was built with TensorRT {info.get('tensorrt_version')} on "
            f"{info.get('gpu')}; this is TensorRT "
            f"{installed_version} on {gpu}. Engines do not move between versions or GPUs: "
            f"delete {folder / ENGINE} (it is rebuilt on "
            f"the next start) or run {folder / 'build_engine.sh'}"
        )


class TensorRtEngine(EngineBase):
    backend = "tensorrt"

    def __init__(
        self,
        engine_path: Path,
        onnx_path: Path | None = None,
        options: dict[str, Any] | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        trt = _tensorrt()
        engine_path = Path(engine_path)
        if not engine_path.is_file():
            if onnx_path is None or not Path(onnx_path).is_file():
                raise InputError(
                    f"no TensorRT engine at {engine_path} and no ONNX model to build it from; rebuild the bundle"
                )
            log(f"no engine yet: building {engine_path} from {onnx_path} (first start only)")
            build_engine(Path(onnx_path), engine_path, options or {}, log)
        check_engine_info(engine_path.parent, trt.__version__, gpu_name())
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self.engine is None:
            raise InputError(
                f"TensorRT {trt.__version__} cannot load {engine_path} (built by another version "
                "or GPU?); delete it to rebuild on the next start"
            )
        self.context = self.engine.create_execution_context()
        from cuda.bindings import runtime as cudart  # cuda-python, from the [tensorrt] extra

        self.cudart = cudart
        self.stream = self._check(cudart.cudaStreamCreate())
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.host: dict[str, np.ndarray] = {}  # numpy views of pinned (page-locked) host memory
        self.pinned: list[int] = []
        self.device: dict[str, int] = {}
        for name in names:
            shape = tuple(self.context.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            nbytes = int(np.prod(shape)) * dtype.itemsize
            pointer = self._check(cudart.cudaMallocHost(nbytes))  # pinned: the async copies really are async
            self.pinned.append(pointer)
            self.host[name] = np.frombuffer((ctypes.c_byte * nbytes).from_address(pointer), dtype=dtype).reshape(shape)
            self.device[name] = self._check(cudart.cudaMalloc(nbytes))
            self.context.set_tensor_address(name, self.device[name])
        self.input_shapes = {n: tuple(self.host[n].shape) for n in self.input_names}
        self.output_shapes = {n: tuple(self.host[n].shape) for n in self.output_names}

    def _check(self, result: Any) -> Any:
        error, *value = result
        if int(error) != 0:
            raise MptEdgeError(f"CUDA error {error}")
        return value[0] if value else None

    def infer(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        kind = self.cudart.cudaMemcpyKind
        for name in self.input_names:
            array = np.asarray(feeds[name])
            if array.shape != self.host[name].shape:
                raise InputError(f"input {name} has shape {array.shape}; the engine takes {self.host[name].shape}")
            np.copyto(self.host[name], array, casting="same_kind")
            self._check(
                self.cudart.cudaMemcpyAsync(
                    self.device[name],
                    self.host[name].ctypes.data,
                    self.host[name].nbytes,
                    kind.cudaMemcpyHostToDevice,
                    self.stream,
                )
            )
        self.context.execute_async_v3(self.stream)
        out = self.output_names[0]
        self._check(
            self.cudart.cudaMemcpyAsync(
                self.host[out].ctypes.data,
                self.device[out],
                self.host[out].nbytes,
                kind.cudaMemcpyDeviceToHost,
                self.stream,
            )
        )
        self._check(self.cudart.cudaStreamSynchronize(self.stream))
        return np.asarray(self.host[out].copy())

    def __del__(self) -> None:
        self.close()

    def _release(self) -> None:
        for pointer in getattr(self, "device", {}).values():
            self.cudart.cudaFree(pointer)
        for pointer in getattr(self, "pinned", []):
            self.cudart.cudaFreeHost(pointer)
        if getattr(self, "stream", None) is not None:
            self.cudart.cudaStreamDestroy(self.stream)


def build_from_bundle(folder: Path) -> dict[str, Any]:
    """What the bundle's build_engine.py runs on the device: the verified bundle's model and options."""
    from mpt_edge.bundle import load_bundle

    bundle = load_bundle(Path(folder))
    return build_engine(bundle.path("model"), Path(folder) / ENGINE, bundle.target_options)


if __name__ == "__main__":  # python -m mpt_edge.engines.tensorrt BUNDLE_DIR
    import sys

    build_from_bundle(Path(sys.argv[1] if len(sys.argv) > 1 else os.getcwd()))
