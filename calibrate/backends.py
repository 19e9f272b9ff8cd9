"""INT8 quantization per backend behind one function each (nncf's style: one call hides a backend).

* ``openvino``: ``nncf.quantize`` on the OpenVINO model read from the ONNX file, transformer model
  type (its ignored patterns; SmoothQuant off, measured), -> INT8 IR (``model_int8.xml``/``.bin``).
  ``max_drop``: ``nncf.quantize_with_accuracy_control`` reverts the most harmful layers to FP32
  until held-out accuracy is within ``max_drop`` of FP32.
* ``tensorrt``: explicit quantization, Q/DQ INT8 ONNX from ``onnxruntime.quantization.quantize_static``
  with what TensorRT wants: symmetric INT8 activations and weights, per-channel weights, Q/DQ only
  on the inputs of MatMul/Gemm/Conv with a weight (TensorRT fuses those; LayerNorm, Softmax, GELU and
  the attention's two activation-by-activation MatMuls stay in higher precision, as NVIDIA's own ViT
  recipes do), biases left in float. NVIDIA Model Optimizer was not used: its
  ONNX PTQ path pulls CUDA-only dependencies that do not install on this CPU-only machine.
* ``onnxruntime``: Q/DQ for ONNX Runtime's CPU kernels: unsigned activations, signed per-channel
  weights, same op set.
Every path keeps the motion-prompt path in float (``float_kept_nodes``) and is deterministic for a
given calibration set.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpt_edge.backends import Backend
from mpt_edge.errors import InputError

QDQ_OPS = ["MatMul", "Gemm", "Conv"]
# Layers that read the standardised motion prompts directly: the prompts' projection into tokens and
# the linear read-out of the prompts. Sub-pixel motion lives in their inputs' small differences and a
# few outlier features; per-tensor INT8 activations flatten both (measured on the hard preset: NNCF
# held-out UF1 0.841 -> 0.789 with them quantized). They cost a few thousand MACs of ~1.3 G.
FLOAT_KEPT_PREFIXES = ("prompt_readout.", "motion_embed.")


def float_kept_nodes(model: Path) -> list[str]:
    """ONNX names of the MatMul/Gemm nodes whose weights or biases belong to FLOAT_KEPT_PREFIXES
    (found by initializer name: exporters rename nodes, never the parameters they read)."""
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type in QDQ_OPS
        and any(name in initializers and name.startswith(FLOAT_KEPT_PREFIXES) for name in node.input)
    ]


def attention_matmuls(model: Path) -> list[str]:
    """The MatMuls of two activations (q·kᵀ and softmax·v): no weight among their inputs. For TensorRT
    they stay FP16 (its fused attention): with symmetric per-tensor INT8 on the softmax output — probabilities
    in [0, 1], mostly tiny — the pretrained DINOv2 ViT-S/14's final [CLS] fell to cosine 0.985 against
    FP32 on 4 clips (0.961 over 96 held-out clips), 0.998 with these 24 MatMuls left out."""
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and not any(name in initializers for name in node.input)
    ]


def output_path(out_dir: Path, backend: str) -> Path:
    name = Backend(backend).spec.int8_file
    assert name is not None, backend
    return out_dir / name


class _Reader:
    """onnxruntime's CalibrationDataReader over a list of feeds."""

    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]) -> None:
        self.feeds = list(feeds)
        self.position = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.position >= len(self.feeds):
            return None
        self.position += 1
        return self.feeds[self.position - 1]

    def rewind(self) -> None:
        self.position = 0


def quantize_qdq(
    model: Path, out: Path, feeds: Sequence[dict[str, np.ndarray]], tensorrt: bool, operator_format: bool = False
) -> Path:
    """``operator_format``: ONNX Runtime's QOperator form (QLinearMatMul/QLinearConv instead of Q/DQ
    pairs around float ops) — measured in benchmarks/bench_int8.py; TensorRT takes Q/DQ only."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(_Reader, CalibrationDataReader):
        pass

    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        staged = Path(tmp) / out.name
        excluded = float_kept_nodes(prepared) + (attention_matmuls(prepared) if tensorrt else [])
        quantize_static(
            str(prepared),
            str(staged),
            Reader(feeds),
            quant_format=QuantFormat.QOperator if operator_format else QuantFormat.QDQ,
            op_types_to_quantize=QDQ_OPS,
            nodes_to_exclude=excluded,
            per_channel=True,
            activation_type=QuantType.QInt8 if tensorrt else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            # TensorRT's explicit quantization takes INT8 Q/DQ only: biases stay float (no int32 bias DQ).
            extra_options={"ActivationSymmetric": tensorrt, "WeightSymmetric": True, "QuantizeBias": not tensorrt},
        )
        _copy_metadata(model, staged)
        shutil.move(str(staged), str(out))  # same file system: an atomic rename
    return out


def _copy_metadata(source: Path, target: Path) -> None:
    """Carry the mpt-edge metadata (configs, classes) into the quantized file."""
    import onnx

    original = onnx.load(str(source), load_external_data=False)
    quantized = onnx.load(str(target))
    del quantized.metadata_props[:]
    for prop in original.metadata_props:
        quantized.metadata_props.add(key=prop.key, value=prop.value)
    onnx.save(quantized, str(target))


def quantize_openvino(
    model: Path,
    out: Path,
    feeds: Sequence[dict[str, np.ndarray]],
    max_drop: float | None = None,
    validation: tuple[Sequence[dict[str, np.ndarray]], np.ndarray, Callable[[np.ndarray, np.ndarray], float]]
    | None = None,
    *,
    transformer: bool = True,
    smooth_quant: bool = False,
    fast_bias_correction: bool = True,
) -> Path:
    """The keyword settings are the NNCF choices benchmarks/bench_int8.py compares; the defaults are
    what ``mpt-edge calibrate`` ships. SmoothQuant is off: with it the INT8 IR ran at 0.34-0.62x FP32
    on a CPU without VNNI (oneDNN capped at AVX512_CORE), without it 1.38-1.58x; on AVX-512 VNNI
    the two are equally fast, and held-out UF1 was identical for mpt-tiny/small/base (README "INT8
    on CPUs")."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters

    from mpt_edge.verbosity import library_output, quiet

    quiet("nncf")  # its INFO lines ("Not adding activation input quantizer ...") are not the user's business
    ov_model = ov.Core().read_model(str(model))
    calibration = nncf.Dataset(list(feeds))
    # OpenVINO names an ONNX Gemm's MatMul "<node>/WithoutBiases"
    kept = [f"^{re.escape(name)}(/.*)?$" for name in float_kept_nodes(model)]
    common = dict(
        model_type=nncf.ModelType.TRANSFORMER if transformer else None,
        subset_size=len(feeds),
        fast_bias_correction=fast_bias_correction,
        ignored_scope=nncf.IgnoredScope(patterns=kept, validate=False) if kept else None,
    )
    # SmoothQuant (transformer model type only) moves activation outliers into the weights; -1 disables it
    advanced = (
        None
        if smooth_quant
        else AdvancedQuantizationParameters(smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=-1))
    )
    if max_drop is None:
        with library_output():
            quantized = nncf.quantize(ov_model, calibration, advanced_parameters=advanced, **common)
    else:
        if validation is None:
            raise InputError("--max-drop needs held-out validation clips")
        val_feeds, val_labels, metric = validation

        def validate(compiled: ov.CompiledModel, items) -> float:
            logits = np.concatenate([compiled(item)[0] for item in items])
            return float(metric(val_labels, logits.argmax(1)))

        with library_output():
            quantized = nncf.quantize_with_accuracy_control(
                ov_model,
                calibration,
                nncf.Dataset(list(val_feeds)),
                validation_fn=validate,
                max_drop=max_drop,
                drop_type=nncf.DropType.ABSOLUTE,
                advanced_quantization_parameters=advanced,
                **common,
            )
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        staged = Path(tmp) / out.name
        ov.save_model(quantized, str(staged), compress_to_fp16=False)
        shutil.move(str(staged.with_suffix(".bin")), str(out.with_suffix(".bin")))
        shutil.move(str(staged), str(out))  # the .xml last: an IR without its weights never appears
    return out


Validation = tuple[Sequence[dict[str, np.ndarray]], np.ndarray, Callable[[np.ndarray, np.ndarray], float]]


@dataclass(frozen=True)
class QuantizeJob:
    """One INT8 quantization: the FP32 model, where its INT8 model goes, the calibration feeds, a scratch
    folder, and (accuracy control) the largest UF1 drop allowed with the held-out feeds that measure it."""

    model: Path
    target: Path
    calibration: Sequence[dict[str, np.ndarray]]
    scratch: Path
    max_drop: float | None = None
    validation: Validation | None = None
    log: Callable[[str], None] = print


@dataclass(frozen=True)
class Quantizer:
    """How ``calibrate`` makes one backend's INT8 model, beside :data:`mpt_edge.backends.BACKENDS` (what the
    device knows of a backend) — the one place the calibration stage looks a backend up.

    ``quantize`` writes ``job.target`` and returns the INT8 model the report checks op by op (for TensorRT
    the plain Q/DQ graph before its FP16 decisions); ``accuracy_control``: it takes ``--max-drop``;
    ``simulated_sensitivity``: its per-layer view comes from an ONNX Runtime Q/DQ simulation of the same
    calibration (its own model is no ONNX graph); ``precision``: what the report says the INT8 model is."""

    quantize: Callable[[QuantizeJob], Path]
    precision: str = "INT8"
    accuracy_control: bool = False
    simulated_sensitivity: bool = False


def _quantize_openvino(job: QuantizeJob) -> Path:
    quantize_openvino(job.model, job.target, job.calibration, job.max_drop, job.validation)
    return job.target


def _quantize_onnxruntime(job: QuantizeJob) -> Path:
    quantize_qdq(job.model, job.target, job.calibration, tensorrt=False)
    return job.target


def _quantize_tensorrt(job: QuantizeJob) -> Path:
    from calibrate.mixed_precision import to_mixed_precision

    int8_only = job.scratch / "int8_fp32.onnx"
    quantize_qdq(job.model, int8_only, job.calibration, tensorrt=True)
    to_mixed_precision(int8_only, job.target)  # strongly typed: the FP16 decisions are made here, not by builder flags
    job.log(
        f"{job.target.name}: INT8 Q/DQ + FP16 (LayerNorm, Softmax and the prompt path in FP32), "
        "opset 19, strongly typed"
    )
    return int8_only


QUANTIZERS: dict[Backend, Quantizer] = {
    Backend.OPENVINO: Quantizer(_quantize_openvino, accuracy_control=True, simulated_sensitivity=True),
    Backend.ONNXRUNTIME: Quantizer(_quantize_onnxruntime),
    Backend.TENSORRT: Quantizer(
        _quantize_tensorrt,
        precision="INT8 Q/DQ + FP16 elsewhere (LayerNorm, Softmax, prompt path FP32), strongly typed",
    ),
}
