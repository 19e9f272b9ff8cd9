"""NVIDIA Triton Inference Server targets: one GPU or CPU server for many cameras.

The bundle *is* a Triton model repository (``--model-repository`` points at it), plus mpt-edge's
``manifest.json`` at its root, so the hosts that stream to it preprocess exactly as the model was
trained (``mpt-edge run --bundle REPO --server grpc://HOST:8001``). Each precision is one model:

- ``triton-cpu``: ``mpt_int8`` (NNCF INT8 IR, Triton's OpenVINO backend) and ``mpt_fp32`` (the FP32
  ONNX, the ONNX Runtime backend), ``KIND_CPU``;
- ``triton-gpu``: ``mpt_fp32`` (ONNX Runtime backend on the GPU) and ``mpt_int8`` — the strongly typed
  INT8/FP16 Q/DQ model for Triton's TensorRT backend; a TensorRT plan is specific to the GPU and
  TensorRT version, so ``build_engine.sh`` builds ``mpt_int8/1/model.plan`` with the server's own
  ``trtexec`` before the server starts (docs "Serving many cameras").

``config.pbtxt`` is generated from the model's I/O (names, dims without the batch, FP32), with
``max_batch_size``, ``dynamic_batching`` (queue delay measured by benchmarks/bench_server.py) and an
instance group; the tests parse it with Triton's own protobuf schema (tritonclient's model_config_pb2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mpt_edge.backends import Backend
from targets.profile import TargetProfile

# Dynamic batching: requests of several cameras wait up to this long to be run as one batch. On CPUs
# measured (benchmarks/bench_server.py, 2-core Xeon, docs "Serving many cameras"): no delay was best
# at 1-8 clients (23-24 requests/s; 2 ms: 20-23, 8 ms: 17-21) — a busy server queues requests and
# batches them anyway. The GPU's 2 ms is Triton's usual starting point, not measured (no GPU here).
_OPTIONS = {"max_batch_size": 8, "instances": 1}

PROFILES = [
    TargetProfile(
        name="triton-cpu",
        family="triton",
        backend=Backend.TRITON,
        precision="int8",
        calibration="openvino",
        description="Triton Inference Server on CPUs: OpenVINO INT8 + ONNX Runtime FP32 models, dynamic batching",
        needs=("openvino", "nncf"),
        options={**_OPTIONS, "max_queue_delay_us": 0, "kind": "KIND_CPU", "int8_backend": "openvino"},
    ),
    TargetProfile(
        name="triton-gpu",
        family="triton",
        backend=Backend.TRITON,
        precision="int8",
        calibration="tensorrt",
        description=(
            "Triton Inference Server on NVIDIA GPUs: TensorRT INT8/FP16 plan (built on the server) + ONNX Runtime FP32"
        ),
        needs=("onnxruntime", "onnx"),
        options={**_OPTIONS, "max_queue_delay_us": 2000, "kind": "KIND_GPU", "int8_backend": "tensorrt"},
    ),
]

MODEL_NAMES = {"int8": "mpt_int8", "fp32": "mpt_fp32"}


def _dims(shape: list[int]) -> str:
    return "[ " + ", ".join(str(int(d)) for d in shape) + " ]"


def model_config(
    name: str, precision: str, profile: TargetProfile, inputs: dict[str, list[int]], outputs: dict[str, list[int]]
) -> str:
    """``config.pbtxt`` for one model of the repository (shapes without the batch dimension)."""
    options = profile.options
    if precision == "fp32":
        backend = 'platform: "onnxruntime_onnx"'
    elif options["int8_backend"] == Backend.OPENVINO:
        backend = 'backend: "openvino"'
    else:
        backend = 'platform: "tensorrt_plan"'
    lines = [f'name: "{name}"', backend, f"max_batch_size: {options['max_batch_size']}"]
    for kind, tensors in (("input", inputs), ("output", outputs)):
        items = [
            f'  {{ name: "{tensor}" data_type: TYPE_FP32 dims: {_dims(shape[1:])} }}'
            for tensor, shape in tensors.items()
        ]
        lines.append(f"{kind} [\n" + ",\n".join(items) + "\n]")
    lines.append(f"dynamic_batching {{ max_queue_delay_microseconds: {options['max_queue_delay_us']} }}")
    lines.append(f"instance_group [ {{ count: {options['instances']} kind: {options['kind']} }} ]")
    return "\n".join(lines) + "\n"


def repository_files(
    profile: TargetProfile,
    fp32_onnx: Path,
    int8: Path,
    inputs: dict[str, list[int]],
    outputs: dict[str, list[int]],
    work: Path,
) -> tuple[dict[str, Path], dict[str, str], dict[str, Any]]:
    """(bundle name -> source, role -> bundle name, the manifest's ``triton`` record)."""
    folder = work / f"triton-{profile.name}"
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    roles = {}
    for precision, name in MODEL_NAMES.items():
        config = folder / f"{name}.pbtxt"
        config.write_text(model_config(name, precision, profile, inputs, outputs))
        files[f"{name}/config.pbtxt"] = config
    files["mpt_fp32/1/model.onnx"] = fp32_onnx
    roles["model_fp32"] = "mpt_fp32/1/model.onnx"
    if profile.options["int8_backend"] == Backend.OPENVINO:
        files["mpt_int8/1/model.xml"] = int8
        files["mpt_int8/1/model.bin"] = int8.with_suffix(".bin")
        roles["model"] = "mpt_int8/1/model.xml"
    else:  # the plan is built on the server: the Q/DQ model waits beside the version folder
        files["mpt_int8/model_int8_qdq.onnx"] = int8
        files["build_engine.sh"] = write_engine_script(
            folder / "build_engine.sh", inputs, profile.options["max_batch_size"]
        )
        roles["model"] = "mpt_int8/model_int8_qdq.onnx"
    record = {
        "models": dict(MODEL_NAMES),
        "max_batch_size": profile.options["max_batch_size"],
        "max_queue_delay_us": profile.options["max_queue_delay_us"],
        "kind": profile.options["kind"],
    }
    return files, roles, record


def write_engine_script(path: Path, inputs: dict[str, list[int]], max_batch: int) -> Path:
    """``build_engine.sh`` for triton-gpu: the plan for *this* server's GPU, inside NVIDIA's container."""

    def shapes(batch: int) -> str:
        return ",".join(f"{name}:{batch}x" + "x".join(str(d) for d in shape[1:]) for name, shape in inputs.items())

    path.write_text(f"""#!/usr/bin/env bash
# Build mpt_int8/1/model.plan for this server's GPU (run inside nvcr.io/nvidia/tritonserver:<tag>-py3,
# whose TensorRT matches its TensorRT backend). The model is strongly typed (Q/DQ INT8, FP16 casts).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p mpt_int8/1
TRTEXEC="${{TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}}"
"$TRTEXEC" --onnx=mpt_int8/model_int8_qdq.onnx --stronglyTyped --saveEngine=mpt_int8/1/model.plan \\
    --minShapes={shapes(1)} --optShapes={shapes(max(1, max_batch // 2))} --maxShapes={shapes(max_batch)}
echo "wrote mpt_int8/1/model.plan"
""")
    path.chmod(0o755)
    return path
