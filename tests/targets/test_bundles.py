"""Targets and bundles: openvino-cpu and onnxruntime-cpu bundles built end to end from a trained
checkpoint and checked against it; the jetson-orin bundle verified with ONNX Runtime and bash -n;
tampered, incomplete and path-traversing bundles refused."""

from __future__ import annotations

import io
import json
import py_compile
import subprocess
import tarfile

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from app.cli import EXIT_USER_ERROR, app
from mpt_edge.bundle import load_bundle, pack_bundle, unpack_bundle
from mpt_edge.engines import open_bundle_engine, open_engine
from mpt_edge.errors import InputError
from mpt_edge.motion import MotionConfig
from mpt_edge.preprocess import model_inputs
from train.checkpoint import load_model
from train.configs import REGISTRY, MPTConfig
from train.data.synthetic import generate

FEATURES = MotionConfig().num_features  # of the default prompt variant

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore:Detected pickle protocol"
)
runner = CliRunner()
MICRO = MPTConfig("mpt-micro", embed_dim=32, depth=1, num_heads=2, adapter_dim=4)


@pytest.fixture(autouse=True)
def micro_config(monkeypatch):
    monkeypatch.setitem(REGISTRY, "mpt-micro", MICRO)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("bundles")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(REGISTRY, "mpt-micro", MICRO)
        result = runner.invoke(
            app,
            [
                "train",
                "--root",
                str(base / "data"),
                "--synthetic-subjects",
                "4",
                "--synthetic-clips",
                "2",
                "--model",
                "mpt-micro",
                "--epochs",
                "1",
                "--out",
                str(base / "run"),
            ],
        )
        assert result.exit_code == 0, result.output
    return base


def build(trained, target, out, *extra):
    result = runner.invoke(
        app,
        [
            "build",
            str(trained / "run" / "best.pt"),
            "--target",
            target,
            "--out",
            str(out),
            "--root",
            str(trained / "data"),
            "--calibration-size",
            "8",
            "--work",
            str(trained / "work"),
            "--json",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # stdout is the JSON alone


def real_inputs(count=6):
    clips = generate(num_subjects=2, clips_per_class=1, size=224, seed=21)[:count]
    return [model_inputs(c.frames[c.onset], c.frames[c.apex], MotionConfig()) for c in clips]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["onnxruntime-cpu", "openvino-cpu-fp32", "openvino-cpu", "onnxruntime-cpu-int8"])
def test_cpu_bundles_predict_what_the_checkpoint_predicts(trained, tmp_path, target):
    out = tmp_path / target
    summary = build(trained, target, out)
    bundle = load_bundle(out)
    assert bundle.target_name == target and bundle.class_names == ["negative", "positive", "surprise"]
    assert set(bundle.files) == set(summary["files"]) and bundle.motion_config.face_size == 224
    engine = open_bundle_engine(bundle)
    model, _ = load_model(trained / "run" / "best.pt")
    ours, theirs = [], []
    for image, motion in real_inputs():
        ours.append(engine.infer({"apex": image[None], "motion": motion[None]}))
        with torch.no_grad():
            theirs.append(model(torch.from_numpy(image[None]), torch.from_numpy(motion[None])).numpy())
    ours, theirs = np.concatenate(ours), np.concatenate(theirs)
    if bundle.precision == "fp32":
        assert np.abs(ours - theirs).max() < 1e-3
    else:
        assert np.abs(ours - theirs).max() < 0.5 and np.mean(ours.argmax(1) == theirs.argmax(1)) >= 0.5
        assert "int8" in bundle.manifest.validation["held_out"]
    bench = runner.invoke(app, ["bench", str(out), "--seconds", "0.2", "--json"])
    assert bench.exit_code == 0, bench.output
    figures = json.loads(bench.stdout)
    assert (
        figures["latency_ms"]["p50"] > 0
        and figures["latency_ms"]["p99"] >= figures["latency_ms"]["p50"]
        and figures["throughput_per_s"] > 0
    )
    decision = out.parent / f"{out.name}.precision.json"
    if bundle.precision == "int8":  # CPU INT8 bundles carry the FP32 model too; the device keeps the faster
        assert bundle.manifest.precisions == {"int8": "model", "fp32": "model_fp32"} and set(
            bundle.manifest.validation["held_out"]
        ) >= {"fp32", "int8"}
        assert (
            set(figures["by_precision"]) == {"int8", "fp32"}
            and figures["precision"] == json.loads(decision.read_text())["precision"]
        )
        fp32 = np.concatenate(
            [
                open_bundle_engine(bundle, precision="fp32").infer({"apex": i[None], "motion": m[None]})
                for i, m in real_inputs()
            ]
        )
        assert np.abs(fp32 - theirs).max() < 1e-3
        forced = json.loads(
            runner.invoke(app, ["bench", str(out), "--seconds", "0.2", "--precision", "fp32", "--json"]).stdout
        )
        assert forced["precision"] == "fp32" and forced["precision_chosen_by"] == "--precision"
        # the reported precision is timed alone; the two precisions side by side are their own figure
        assert (
            forced["measured"] == "alone"
            and forced["by_precision_measured"] == "interleaved"
            and set(forced["by_precision"]) == {"int8", "fp32"}
        )
        assert forced["runs"] >= 10 and forced["latency_ms"] != forced["by_precision"]["fp32"]["latency_ms"]
    else:
        assert set(figures["by_precision"]) == {bundle.precision} and not decision.exists()


def test_jetson_bundle_carries_a_checked_qdq_model_and_valid_build_scripts(trained, tmp_path):
    out = tmp_path / "orin"
    build(trained, "jetson-orin", out, "--tar")
    bundle = load_bundle(out)
    assert bundle.backend == "tensorrt" and bundle.manifest.roles == {
        "model": "model_int8_qdq.onnx",
        "engine": "model.engine",
    }
    assert {"model_int8_qdq.onnx", "build_engine.sh", "build_engine.py"} <= set(bundle.files)
    qdq = open_engine(out / "model_int8_qdq.onnx")  # the Q/DQ model runs in ONNX Runtime on this CPU
    logits = qdq.infer(
        {"apex": np.zeros((1, 3, 224, 224), np.float32), "motion": np.zeros((1, 49, FEATURES), np.float32)}
    )
    assert logits.shape == (1, 3) and np.isfinite(logits).all()
    subprocess.run(["bash", "-n", str(out / "build_engine.sh")], check=True)
    script = (out / "build_engine.sh").read_text()
    assert (
        "--stronglyTyped" in script and "--int8" not in script and "--fp16" not in script
    )  # strongly typed: TensorRT 10 and 11
    assert "--memPoolSize=workspace:2048M" in script and "--onnx=model_int8_qdq.onnx" in script
    py_compile.compile(str(out / "build_engine.py"), doraise=True)
    assert out.with_suffix(".tar").is_file()
    nano = tmp_path / "nano"
    build(trained, "jetson-orin-nano", nano)
    assert "workspace:768M" in (nano / "build_engine.sh").read_text()
    dla = tmp_path / "dla"
    build(trained, "jetson-orin-dla", dla)
    assert "--useDLACore=0 --allowGPUFallback" in (dla / "build_engine.sh").read_text()


def test_engine_from_another_tensorrt_version_is_a_clear_rebuild_message(tmp_path):
    from mpt_edge.engines.tensorrt import check_engine_info

    (tmp_path / "engine.json").write_text(json.dumps({"tensorrt_version": "10.3.0", "gpu": "Orin"}))
    with pytest.raises(
        InputError, match="built with TensorRT 10.3.0 on Orin; this is TensorRT 10.9.0.*delete .*model.engine"
    ):
        check_engine_info(tmp_path, "10.9.0", "Orin")
    check_engine_info(tmp_path, "10.3.0", "Orin")  # same version and GPU: fine


def test_tar_round_trip_and_tampering_is_refused(trained, tmp_path):
    out = tmp_path / "b"
    build(trained, "onnxruntime-cpu", out)
    packed = pack_bundle(out, tmp_path / "b.tar")
    unpacked = unpack_bundle(packed, tmp_path / "u")
    assert unpacked.manifest == load_bundle(out).manifest

    # a file changed after the build
    model = out / load_bundle(out).manifest.roles["model"]
    model.write_bytes(model.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(InputError, match="does not match its sha256"):
        load_bundle(out)
    # a missing file
    model.unlink()
    with pytest.raises(InputError, match="is missing"):
        load_bundle(out)
    # a manifest from the future
    manifest = json.loads((tmp_path / "u" / "manifest.json").read_text())
    manifest["schema_version"] = 7
    (tmp_path / "u" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="schema version 7"):
        load_bundle(tmp_path / "u")
    result = runner.invoke(app, ["bench", str(tmp_path / "u")])
    assert result.exit_code == EXIT_USER_ERROR and "schema version 7" in result.output


def _tar_with(tmp_path, name, data=b"x", link=None):
    path = tmp_path / f"evil-{abs(hash(name))}.tar"
    with tarfile.open(path, "w") as archive:
        manifest = json.dumps({"schema_version": 1}).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        archive.addfile(info, io.BytesIO(manifest))
        info = tarfile.TarInfo(name)
        if link:
            info.type, info.linkname = tarfile.SYMTYPE, link
            archive.addfile(info)
        else:
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    "name, link, message",
    [
        ("../outside.txt", None, "would be written outside"),
        ("/etc/evil", None, "would be written outside"),
        ("sub/../../escape", None, "would be written outside"),
        ("model.onnx", "/etc/passwd", "is a link"),
    ],
)
def test_unpacking_refuses_paths_outside_the_folder_and_links(tmp_path, name, link, message):
    archive = _tar_with(tmp_path, name, link=link)
    with pytest.raises(InputError, match=message):
        unpack_bundle(archive, tmp_path / "dest")
    assert not (tmp_path / "dest").exists() and not (tmp_path / "outside.txt").exists()
    result = runner.invoke(app, ["unpack", str(archive), "--out", str(tmp_path / "dest2")])
    assert result.exit_code == EXIT_USER_ERROR and message in result.output


def test_unlisted_files_in_a_tar_are_refused(trained, tmp_path):
    out = tmp_path / "b"
    build(trained, "onnxruntime-cpu", out)
    packed = pack_bundle(out, tmp_path / "b.tar")
    with tarfile.open(packed, "a") as archive:
        info = tarfile.TarInfo("extra.py")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"print"))
    with pytest.raises(InputError, match="does not list"):
        unpack_bundle(packed, tmp_path / "dest")


def test_targets_list_and_bad_build_requests(trained, tmp_path):
    listed = runner.invoke(app, ["targets", "--json"])
    assert listed.exit_code == 0
    rows = {r["target"]: r for r in json.loads(listed.output)}
    assert {"jetson-orin", "jetson-orin-nano", "openvino-cpu", "onnxruntime-cpu"} <= set(rows)
    assert rows["openvino-cpu"]["builds_here"] == "yes"
    bad = runner.invoke(
        app, ["build", str(trained / "run" / "best.pt"), "--target", "coral-tpu", "--out", str(tmp_path / "x")]
    )
    assert bad.exit_code == EXIT_USER_ERROR and "unknown --target 'coral-tpu'" in bad.output
    existing = tmp_path / "full"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    bad = runner.invoke(
        app,
        [
            "build",
            str(trained / "run" / "best.pt"),
            "--target",
            "onnxruntime-cpu",
            "--out",
            str(existing),
            "--work",
            str(trained / "work"),
        ],
    )
    assert (
        bad.exit_code == EXIT_USER_ERROR and "not empty" in bad.output and (existing / "keep.txt").read_text() == "mine"
    )


def test_eval_scores_a_bundle_like_its_checkpoint(trained, tmp_path):
    out = tmp_path / "ort"
    build(trained, "onnxruntime-cpu", out)
    scores = {}
    for model in (out, trained / "run" / "best.pt"):
        result = runner.invoke(
            app,
            [
                "eval",
                str(model),
                "--root",
                str(trained / "data"),
                "--synthetic-subjects",
                "4",
                "--synthetic-clips",
                "2",
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        scores[model.name] = json.loads(result.output.strip().splitlines()[-1])["composite"]
    assert scores["ort"]["confusion"] == scores["best.pt"]["confusion"] and scores["ort"]["samples"] == 24
