"""MPT model: shapes, frozen backbone, separate group adapters, timm-layout weight loading."""

from __future__ import annotations

import pytest
import torch

from mpt_edge.errors import MptEdgeError
from mpt_edge.motion.config import MotionConfig
from train.configs import get_config
from train.model import MPT
from train.weights import load_backbone_weights

FEATURES = MotionConfig().num_features  # of the default prompt variant

torch.manual_seed(0)
pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol")


def small_model(**overrides) -> MPT:
    # ViT-Ti width with 2 blocks keeps these tests fast; the layout is the full one.
    return MPT(get_config("mpt-tiny", depth=2, **overrides))


def batch(n: int = 2):
    return torch.randn(n, 3, 224, 224), torch.randn(n, 49, FEATURES)


def test_forward_shapes_and_parameter_counts():
    model = small_model()
    apex, motion = batch()
    assert model(apex, motion).shape == (2, 3)
    counts = MPT(get_config("mpt-base")).parameter_counts()
    assert counts["frozen"] == 85_798_656  # timm vit_base_patch16_224 without its 1000-class head
    assert counts["trainable"] < 0.05 * counts["total"]


def test_frozen_backbone_receives_no_gradient():
    model = small_model()
    apex, motion = batch()
    model(apex, motion).logsumexp(dim=1).sum().backward()
    for name, param in model.named_parameters():
        if model.is_backbone_parameter(name):
            assert not param.requires_grad and param.grad is None, name
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable and all(p.grad is not None for p in trainable)


def test_group_adapters_have_separate_parameters_that_adapt_only_their_group():
    model = small_model()
    adapter = model.blocks[0].adapter
    groups = (adapter.cls, adapter.visual, adapter.motion)
    ids = [{id(p) for p in g.parameters()} for g in groups]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    # Make only the motion adapter non-zero: only motion tokens may change in that block's output.
    with torch.no_grad():
        adapter.motion.up.weight.normal_()
    x = torch.randn(1, 1 + 196 + 49, 192)
    out = adapter(x)
    assert torch.count_nonzero(out[:, : 1 + 196]) == 0
    assert torch.count_nonzero(out[:, 1 + 196 :]) > 0


def test_zero_initialised_adapters_start_from_the_frozen_vit():
    with_adapters = small_model(use_motion_prompts=False)
    apex, _ = batch(1)
    features = with_adapters.forward_features(apex)
    for block in with_adapters.blocks:
        block.adapter.scale = 0.0
    assert torch.allclose(features, with_adapters.forward_features(apex))


def test_motion_prompts_change_the_prediction_and_ablation_drops_them():
    model = small_model(prompt_readout=False)
    with torch.no_grad():
        model.head.weight.normal_()  # zero at init (training solves the read-out first)
        for block in model.blocks:
            block.adapter.motion.up.weight.normal_(std=0.1)
    apex, motion = batch(1)
    assert not torch.allclose(model(apex, motion), model(apex, torch.zeros_like(motion)))
    assert small_model(use_motion_prompts=False)(apex).shape == (1, 3)
    with pytest.raises(ValueError, match="motion features"):
        model(apex)


def test_timm_layout_weights_round_trip_safetensors_and_torch(tmp_path):
    from safetensors.torch import save_file

    source, target = small_model(), small_model()
    state = {f"module.{k}": v.clone() for k, v in source.backbone_state_dict().items()}
    state["head.weight"] = torch.zeros(1000, 192)  # an ImageNet head is ignored, not loaded
    save_file(state, str(tmp_path / "vit.safetensors"))
    torch.save({"state_dict": state}, tmp_path / "vit.pth")
    for name in ("vit.safetensors", "vit.pth"):
        counts = load_backbone_weights(target, tmp_path / name)
        assert counts["ignored"] == 1
        for key, value in source.backbone_state_dict().items():
            assert torch.equal(target.state_dict()[key], value), key


def test_mismatched_or_corrupt_weights_give_one_clear_error(tmp_path):
    from safetensors.torch import save_file

    base_like = {
        k: torch.zeros(768 if v.ndim == 1 and v.shape[0] == 192 else 1)
        for k, v in small_model().backbone_state_dict().items()
    }
    save_file(base_like, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(MptEdgeError, match=r"do not fit mpt-tiny .*shape mismatches"):
        load_backbone_weights(small_model(), tmp_path / "wrong.safetensors")
    (tmp_path / "corrupt.pth").write_bytes(b"\x80\x04not really a checkpoint")
    with pytest.raises(MptEdgeError, match="cannot read backbone weights"):
        load_backbone_weights(small_model(), tmp_path / "corrupt.pth")
    with pytest.raises(MptEdgeError, match="do not exist"):
        load_backbone_weights(small_model(), tmp_path / "absent.safetensors")


def test_pickled_code_is_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(MptEdgeError, match="cannot read backbone weights"):
        load_backbone_weights(small_model(), tmp_path / "evil.pth")


@pytest.mark.slow
def test_exports_to_onnx_and_matches_pytorch(tmp_path):
    """No data-dependent control flow: the graph exports, and ONNX Runtime agrees with PyTorch."""
    import numpy as np
    import onnxruntime as ort

    model = small_model().eval()
    with torch.no_grad():
        for block in model.blocks:
            block.adapter.motion.up.weight.normal_(std=0.1)
    apex, motion = batch(1)
    path = tmp_path / "mpt.onnx"
    torch.onnx.export(
        model,
        (apex, motion),
        str(path),
        input_names=["apex", "motion"],
        output_names=["logits"],
        opset_version=18,
        dynamo=True,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(None, {"apex": apex.numpy(), "motion": motion.numpy()})[0]
    with torch.no_grad():
        torch_logits = model(apex, motion).numpy()
    assert np.abs(onnx_logits - torch_logits).max() <= 1e-4


def test_prompts_are_standardised_with_stored_statistics_and_read_out_linearly():
    model = small_model()
    apex, _ = batch(4)
    training = torch.randn(50, 49, FEATURES) * torch.logspace(-3, 0, FEATURES) + torch.linspace(-1, 1, FEATURES)
    model.motion_embed.set_feature_statistics(training)
    z = model.motion_embed.standardise(training)
    assert torch.allclose(z.mean(0), torch.zeros(49, FEATURES), atol=1e-4) and torch.allclose(
        z.std(0, unbiased=False), torch.ones(49, FEATURES), atol=1e-3
    )
    assert {"motion_embed.feature_mean", "motion_embed.feature_std"} <= set(model.state_dict())  # saved with the model
    constant = torch.zeros(10, 49, FEATURES)
    model.motion_embed.set_feature_statistics(constant)
    assert torch.isfinite(
        model.motion_embed.standardise(constant + 1.0)
    ).all()  # a feature that never varied stays finite
    with torch.no_grad():
        model.prompt_readout.weight[1, FEATURES - 1] = 2.0
    motion = torch.zeros(4, 49, FEATURES)
    moved = motion.clone()
    moved[:, 0, FEATURES - 1] = 1.0
    difference = model(apex, moved) - model(apex, motion)
    assert difference[:, 1].abs().min() > 0 and difference[:, [0, 2]].abs().max() == 0


def test_a_head_over_the_prompt_tokens_reads_cls_plus_their_mean_and_only_when_asked():
    apex, motion = batch()
    plain, over_prompts = small_model(), small_model(head_prompt_tokens=True)
    features = plain.forward_features(apex, motion)
    assert torch.equal(plain.pooled(features), features[:, 0])
    expected = features[:, 0] + features[:, -49:].mean(dim=1)  # 1 + 196 patch tokens, then the 49 prompts
    assert torch.allclose(over_prompts.pooled(features), expected)
    assert get_config("mpt-tiny-prompt-head").head_prompt_tokens and not get_config("mpt-tiny").head_prompt_tokens
