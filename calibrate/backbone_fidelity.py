"""How much of the backbone survives quantization: the final [CLS] and patch tokens of the FP32 model
against the INT8 (or INT8 + FP16) model, per backend.

Logits alone hide it: a float linear read-out of the motion prompts sits beside the [CLS] head and can
carry the decision while the ViT's output is ruined. So the report compares what the head reads —
the output of the final LayerNorm, taken as an extra output of both graphs — by cosine similarity
per token and by SQNR (10·log10 Σx² / Σ(x−x̂)²) over the held-out clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def final_tokens_name(float_model: Path) -> str:
    """The tensor the head reads from: the output of the graph's last LayerNormalization."""
    import onnx

    graph = onnx.load(str(float_model), load_external_data=False).graph
    norms = [node for node in graph.node if node.op_type == "LayerNormalization"]
    if not norms:
        raise ValueError(f"{float_model} has no LayerNormalization node; export it with this mpt-edge")
    return norms[-1].output[0]


def _onnx_tokens(model: Path, tensor: str, feeds: Sequence[dict[str, np.ndarray]], optimize: bool = True) -> np.ndarray:
    import onnx
    import onnxruntime as ort

    proto = onnx.load(str(model))
    if not any(tensor in node.output for node in proto.graph.node):
        raise ValueError(f"{model} has no tensor {tensor!r}")
    proto = onnx.shape_inference.infer_shapes(proto)
    known = {info.name: info for info in proto.graph.value_info}
    output = onnx.ValueInfoProto()
    output.CopyFrom(known[tensor]) if tensor in known else output.MergeFrom(
        onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None)
    )
    proto.graph.output.append(output)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if not optimize:  # op by op, as written (mpt_edge.engines.onnxruntime: ORT's FP16 Q/DQ fusions overflow)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run([tensor], feed)[0].astype(np.float32) for feed in feeds])


def _openvino_tokens(model: Path, tensor: str, feeds: Sequence[dict[str, np.ndarray]]) -> np.ndarray:
    """The IR with ``tensor`` as an extra output, in f32 (on BF16 CPUs "FP32" would otherwise be bf16)."""
    import openvino as ov

    core = ov.Core()
    graph = core.read_model(str(model))
    graph.add_outputs([tensor])
    compiled = core.compile_model(graph, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    port = next(out for out in compiled.outputs if tensor in out.get_names())
    request = compiled.create_infer_request()
    return np.concatenate([np.asarray(request.infer(feed)[port], np.float32) for feed in feeds])


def final_tokens(model: Path, tensor: str, feeds: Sequence[dict[str, np.ndarray]], optimize: bool = True) -> np.ndarray:
    """(clips, tokens, D) final-LayerNorm output of ``model`` (ONNX or OpenVINO IR)."""
    return (
        _openvino_tokens(model, tensor, feeds)
        if model.suffix == ".xml"
        else _onnx_tokens(model, tensor, feeds, optimize)
    )


def _compare(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    ref = reference.reshape(-1, reference.shape[-1]).astype(np.float64)
    got = other.reshape(-1, other.shape[-1]).astype(np.float64)
    cosine = np.sum(ref * got, axis=1) / np.maximum(np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1), 1e-30)
    noise = float(np.sum((ref - got) ** 2))
    return {
        "cosine_mean": round(float(cosine.mean()), 5),
        "cosine_min": round(float(cosine.min()), 5),
        "sqnr_db": round(10 * float(np.log10(float(np.sum(ref**2)) / max(noise, 1e-30))), 2),
    }


def backbone_fidelity(
    float_model: Path,
    quantized_model: Path,
    feeds: Sequence[dict[str, np.ndarray]],
    num_patches: int,
    optimize: bool = True,
    reference: np.ndarray | None = None,
) -> dict[str, Any]:
    """Cosine and SQNR of the final [CLS] and patch tokens, quantized vs FP32, over ``feeds``
    (``optimize=False``: the quantized ONNX model run as written, for the TensorRT model).
    ``reference``: the FP32 model's :func:`final_tokens` on the same feeds, where several quantized
    models are compared with it (computed here otherwise)."""
    tensor = final_tokens_name(float_model)
    if reference is None:
        reference = final_tokens(float_model, tensor, feeds)
    quantized = final_tokens(quantized_model, tensor, feeds, optimize)
    return {
        "tensor": tensor,
        "clips": len(feeds),
        "cls": _compare(reference[:, :1], quantized[:, :1]),
        "patch_tokens": _compare(reference[:, 1 : 1 + num_patches], quantized[:, 1 : 1 + num_patches]),
    }
