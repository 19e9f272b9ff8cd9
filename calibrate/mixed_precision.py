"""The TensorRT model as a *strongly typed* ONNX: INT8 Q/DQ on MatMul/Gemm/Conv, FP16 everywhere else
except where FP32 is needed, FP32 inputs and outputs.

Why: TensorRT 11 (what pip installs) builds only strongly typed networks — precision comes from the
model's own tensor types, the FP16/INT8 builder flags are gone — and TensorRT 10.3 (JetPack 6) builds
them too. So the precision decisions that the builder flags used to make are made here, once, and
checked on the workstation in ONNX Runtime before any GPU sees the model.

How: the Q/DQ INT8 model (:func:`calibrate.backends.quantize_qdq`) is moved to opset 19 (the first
where QuantizeLinear/DequantizeLinear take FP16 scales, so a DQ feeds an FP16 MatMul directly instead
of through a Cast) and converted with ONNX Runtime's float16 converter
(``onnxruntime.transformers.float16``, shipped with ONNX Runtime). NVIDIA's ModelOpt AutoCast is the
tool NVIDIA names for this, but ``nvidia-modelopt[onnx]`` replaces onnxruntime with onnxruntime-gpu and
downgrades onnx, which breaks the CPU install. Kept in FP32:

* LayerNormalization and Softmax (their reductions lose accuracy in FP16; NVIDIA's ViT recipes keep them);
* the motion-prompt path from the ``motion`` input up to its projections and every layer with prompt
  weights: sub-pixel motion lives in small differences of the standardised prompts (the same reason
  INT8 leaves those layers float);
* every INT8 layer one of whose per-channel weight scales is below FP16's smallest normal number
  (2^-14 ≈ 6.1e-5), with its DequantizeLinear nodes: such a scale becomes an FP16 subnormal (or 0) and
  its channel's weights lose their precision. A random-init ViT has none; the pretrained DINOv2
  ViT-S/14 has them in its patch embedding (scales down to 4e-6) and in many MLP/attention channels,
  and converting them anyway ruined the model (final [CLS] cosine 0.61 against FP32, from the first
  block on). Kept layers stay INT8 with FP32 output (DQ -> MatMul in FP32, the classic explicit
  quantization pattern), the activations around them FP16.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

FP32_OPS = ("LayerNormalization", "Softmax")
FP16_MIN_NORMAL = 2.0**-14
QDQ_FP16_OPSET = 19
MOTION_INPUT = "motion"


def prompt_path_nodes(graph, kept_prefixes: tuple[str, ...]) -> list[str]:
    """Names of the nodes from the ``motion`` input up to the prompt projections, and of every node
    that reads an initializer named with ``kept_prefixes`` (the prompt layers). The graph is
    topologically sorted."""
    initializers = {init.name for init in graph.initializer}
    prompt_tensors = {MOTION_INPUT}
    names = []
    for node in graph.node:
        projects = any(name in initializers and name.startswith(kept_prefixes) for name in node.input)
        if projects:  # every layer with prompt weights (the INT8 float-kept set), wherever it sits
            names.append(node.name)
        elif any(name in prompt_tensors for name in node.input):  # past a projection: ordinary activations
            names.append(node.name)
            prompt_tensors.update(node.output)
    return names


def subnormal_scale_layers(graph) -> list[str]:
    """Names of the Q/DQ layers (MatMul/Gemm/Conv and their DequantizeLinear inputs) with a weight
    scale that FP16 can only hold as a subnormal: they are kept in FP32."""
    import numpy as np
    from onnx import numpy_helper

    initializers = {init.name: init for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    names = []
    for node in graph.node:
        if node.op_type not in ("MatMul", "Gemm", "Conv"):
            continue
        dequantizers = [
            producers[i] for i in node.input if i in producers and producers[i].op_type == "DequantizeLinear"
        ]
        tiny = False
        for dq in dequantizers:
            if dq.input[0] in initializers and dq.input[1] in initializers:  # a weight's DQ: its scale is a constant
                scale = np.abs(numpy_helper.to_array(initializers[dq.input[1]]).astype(np.float64))
                tiny = tiny or bool(scale.size and scale.min() < FP16_MIN_NORMAL)
        if tiny:
            names += [node.name, *(dq.name for dq in dequantizers)]
    return names


def drop_cast_round_trips(model) -> int:
    """Remove FP32 -> FP16 -> FP32 Cast pairs that the converter puts between two FP32-kept nodes
    (it casts every kept node's output to FP16 and back for a kept consumer): they only round the
    tensor, and between a weight's DequantizeLinear and its MatMul they would hide the Q/DQ pattern
    TensorRT fuses into an INT8 layer. Returns how many pairs were removed."""
    import onnx

    FLOAT, FLOAT16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    inferred = onnx.shape_inference.infer_shapes(model).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*inferred.value_info, *inferred.input, *inferred.output]}
    types.update({i.name: i.data_type for i in model.graph.initializer})
    graph = model.graph

    def cast_to(node) -> int:
        return next((a.i for a in node.attribute if a.name == "to"), -1)

    producers = {out: node for node in graph.node for out in node.output}
    outputs = {o.name for o in graph.output}
    removed = 0
    for back in [n for n in graph.node if n.op_type == "Cast" and cast_to(n) == FLOAT]:
        there = producers.get(back.input[0])
        if there is None or there.op_type != "Cast" or cast_to(there) != FLOAT16 or types.get(there.input[0]) != FLOAT:
            continue
        if back.output[0] in outputs:
            continue
        source = there.input[0]
        for node in graph.node:
            for k, name in enumerate(node.input):
                if name == back.output[0]:
                    node.input[k] = source
        graph.node.remove(back)
        removed += 1
    used = {name for node in graph.node for name in node.input} | outputs
    for node in [n for n in graph.node if n.op_type == "Cast" and not (set(n.output) & used)]:
        graph.node.remove(node)
    return removed


def sort_topologically(graph) -> None:
    """Reorder ``graph.node`` so every node comes after the producers of its inputs (Kahn's order,
    stable: nodes keep their relative order where the data allows)."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        ready = [n for n in pending if all(name in available for name in n.input)]
        if not ready:
            raise ValueError(f"graph has a cycle or a missing input near node {pending[0].name!r}")
        for node in ready:
            available.update(node.output)
        ready_ids = {id(n) for n in ready}
        ordered.extend(ready)
        pending = [n for n in pending if id(n) not in ready_ids]
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def to_mixed_precision(qdq_model: Path, out: Path) -> Path:
    """Write the strongly typed FP16/INT8 form of ``qdq_model`` to ``out`` (atomically), metadata kept."""
    import onnx
    from onnx import version_converter
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from calibrate.backends import FLOAT_KEPT_PREFIXES

    model = onnx.load(str(qdq_model))
    unnamed = [node for node in model.graph.node if not node.name]
    for index, node in enumerate(unnamed):  # the converter's block list goes by node name
        node.name = f"{node.op_type}_{index}_unnamed"
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < QDQ_FP16_OPSET:
        metadata = list(model.metadata_props)
        model = version_converter.convert_version(model, QDQ_FP16_OPSET)
        del model.metadata_props[:]
        model.metadata_props.extend(metadata)
    kept = prompt_path_nodes(model.graph, FLOAT_KEPT_PREFIXES) + subnormal_scale_layers(model.graph)
    mixed = convert_float_to_float16(model, keep_io_types=True, op_block_list=list(FP32_OPS), node_block_list=kept)
    drop_cast_round_trips(mixed)
    sort_topologically(mixed.graph)  # the converter appends its input Casts last; TensorRT's parser reads in order
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        staged = Path(tmp) / out.name
        onnx.save(mixed, str(staged))
        onnx.checker.check_model(str(staged))
        shutil.move(str(staged), str(out))
    return out
