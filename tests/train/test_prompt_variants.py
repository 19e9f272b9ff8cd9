"""Motion prompt variants (lk / patch / flow / strain) and the ViT input (apex / magnified): shapes and names,
zero for no motion, the right direction and place of a known motion, what the ViT sees, old configs
still read, and each variant exported to ONNX with PyTorch parity."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import fourier_translate, smooth_texture
from typer.testing import CliRunner

from app.cli import EXIT_USER_ERROR, app
from mpt_edge.engines import open_engine
from mpt_edge.errors import InputError
from mpt_edge.motion import MotionConfig, motion_inputs, motion_prompts
from mpt_edge.onnx_meta import read_onnx_meta
from mpt_edge.preprocess import apex_image, model_inputs
from train.checkpoint import load_model
from train.configs import REGISTRY, MPTConfig
from train.export import sample_inputs

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
runner = CliRunner()
MICRO = MPTConfig("mpt-micro-variants", embed_dim=32, depth=1, num_heads=2, adapter_dim=4)
VARIANTS = ("lk", "patch", "flow", "strain")


def shifted_region(dx: float, region=(slice(64, 160), slice(64, 160)), size: int = 224):
    onset = smooth_texture(size, sigma=3.0, seed=3)
    apex = onset.copy()
    apex[region] = fourier_translate(onset, dx)[region]
    return onset, apex


def test_each_variant_has_its_shape_and_names():
    onset, apex = shifted_region(0.5)
    expected = {"lk": 6, "patch": 3 * 2 * 2, "flow": 3, "strain": 4}
    for variant, features in expected.items():
        config = MotionConfig(prompt_variant=variant)
        prompts = motion_prompts(onset, apex, config)
        assert prompts.shape == config.token_shape == (49, features) and prompts.dtype == np.float32
        assert len(config.feature_names) == features == len(set(config.feature_names))
    assert MotionConfig(prompt_variant="patch", patch_cells=3).num_features == 27


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_motion_gives_zero_prompts(variant):
    onset = (smooth_texture(224, sigma=3.0) * 255).astype(np.uint8)
    for alpha in (0.0, 8.0):
        assert np.abs(motion_prompts(onset, onset, MotionConfig(prompt_variant=variant, alpha=alpha))).max() == 0.0


@pytest.mark.parametrize("variant", ("patch", "flow", "strain"))
def test_a_rightward_motion_reads_rightward_only_where_it_happens(variant):
    config = MotionConfig(prompt_variant=variant, alpha=0.0)
    names = config.feature_names
    x_columns = [i for i, n in enumerate(names) if n.startswith(("flow_x", "normal_flow_x"))]
    right = motion_prompts(*shifted_region(+1.0), config)
    left = motion_prompts(*shifted_region(-1.0), config)
    centre, corner = 24, 0  # token grid 7x7: the middle token lies in the moving square, the corner far outside
    assert right[centre, x_columns].mean() > 0.4 and left[centre, x_columns].mean() < -0.4
    assert np.abs(right[corner]).max() < 0.05 * np.abs(right[centre]).max()


def test_strain_prompts_remove_the_heads_motion_and_keep_the_faces():
    """A shift of the whole image (the head) leaves nothing; the same shift of one region (a muscle)
    is kept, with strain at its edges."""
    config = MotionConfig(prompt_variant="strain", alpha=0.0)
    texture = smooth_texture(224, sigma=3.0, seed=3)
    whole = motion_prompts(texture, fourier_translate(texture, 1.0), config)
    region = motion_prompts(*shifted_region(1.0), config)
    assert np.abs(whole[:, :3]).max() < 0.1 and whole[:, 3].max() < 0.02
    assert region[24, 0] > 0.4 and region[:, 3].max() > 5 * whole[:, 3].max()


def test_magnification_scales_the_flow_tokens():
    onset, apex = shifted_region(0.3)
    plain = motion_prompts(onset, apex, MotionConfig(prompt_variant="flow", alpha=0.0))[24, 0]
    magnified = motion_prompts(onset, apex, MotionConfig(prompt_variant="flow", alpha=4.0))[24, 0]
    assert 0.15 < plain < 0.45 and magnified > 2.0 * plain


def test_the_vit_sees_the_magnified_apex_only_when_asked():
    onset, apex = shifted_region(0.5)
    onset8, apex8 = (onset * 255).astype(np.uint8), (apex * 255).astype(np.uint8)
    plain, _ = model_inputs(onset8, apex8, MotionConfig(alpha=8.0))
    np.testing.assert_array_equal(plain, apex_image(apex8))
    seen, prompts = model_inputs(onset8, apex8, MotionConfig(alpha=8.0, vit_input="magnified"))
    magnified, same_prompts = motion_inputs(onset8, apex8, MotionConfig(alpha=8.0))
    np.testing.assert_allclose(seen, apex_image(np.clip(magnified, 0, 1)), atol=1e-6)
    np.testing.assert_array_equal(prompts, same_prompts)  # the prompts do not depend on what the ViT sees
    assert np.abs(seen - plain).max() > 0.1
    unmagnified, _ = model_inputs(onset8, apex8, MotionConfig(alpha=0.0, vit_input="magnified"))
    np.testing.assert_array_equal(unmagnified, plain)


def test_configs_without_the_new_fields_read_as_the_old_design_and_bad_names_are_refused():
    old = {k: v for k, v in MotionConfig().to_dict().items() if k not in ("prompt_variant", "vit_input", "patch_cells")}
    config = MotionConfig.from_dict(old)
    assert (config.prompt_variant, config.vit_input) == ("lk", "apex")
    with pytest.raises(InputError, match="prompt_variant='optical'"):
        MotionConfig(prompt_variant="optical")
    with pytest.raises(InputError, match="vit_input"):
        MotionConfig(vit_input="onset")


def test_train_refuses_an_unknown_variant_in_one_line(tmp_path):
    result = runner.invoke(app, ["train", "--prompt-variant", "optical", "--out", str(tmp_path / "run")])
    assert result.exit_code == EXIT_USER_ERROR and "prompt_variant='optical'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.parametrize("variant,vit_input", [("patch", "magnified"), ("flow", "apex")])
def test_every_variant_trains_exports_with_parity_and_records_its_design(tmp_path, monkeypatch, variant, vit_input):
    monkeypatch.setitem(REGISTRY, MICRO.name, MICRO)
    run = tmp_path / "run"
    trained = runner.invoke(
        app,
        [
            "train",
            "--root",
            str(tmp_path / "data"),
            "--synthetic-subjects",
            "4",
            "--synthetic-clips",
            "2",
            "--model",
            MICRO.name,
            "--epochs",
            "1",
            "--alpha",
            "4",
            "--prompt-variant",
            variant,
            "--vit-input",
            vit_input,
            "--out",
            str(run),
        ],
    )
    assert trained.exit_code == 0, trained.output
    exported = runner.invoke(app, ["export", str(run / "best.pt"), "--out", str(tmp_path / "m.onnx"), "--json"])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output.strip().splitlines()[-1])["max_abs_logit_difference"] <= 1e-4
    motion = read_onnx_meta(tmp_path / "m.onnx")["motion_config"]
    assert (motion["prompt_variant"], motion["vit_input"], motion["alpha"]) == (variant, vit_input, 4.0)
    model, _ = load_model(run / "best.pt")
    assert model.motion_config == MotionConfig.from_dict(motion)
    images, prompts = sample_inputs(model, count=3, seed=5)
    assert prompts.shape[1:] == model.motion_config.token_shape
    engine = open_engine(tmp_path / "m.onnx")
    for i in range(3):
        ours = engine.infer({"apex": images[i : i + 1], "motion": prompts[i : i + 1]})
        with torch.no_grad():
            reference = model(torch.from_numpy(images[i : i + 1]), torch.from_numpy(prompts[i : i + 1])).numpy()
        assert np.abs(ours - reference).max() <= 1e-4
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["provenance"]["motion_config"]["prompt_variant"] == variant
