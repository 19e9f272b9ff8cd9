"""Many cameras, one server: `mpt-edge build --target triton-cpu` writes a Triton model repository that
the real Triton core (nvidia-pytriton's tritonserver 2.51, its own venv: tests/helpers/triton_server.py)
serves unchanged; `run/bench/eval --server` send the model inputs there. Checked against the server:
the same events as the local engine, concurrent clients batched by the server, a server killed and
restarted mid-stream, a broken config and a repository that does not match — each one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import triton_server
from helpers.events import expression_lines
from typer.testing import CliRunner

from app.cli import EXIT_USER_ERROR, app
from mpt_edge.bundle import load_bundle
from mpt_edge.engines import open_bundle_engine, open_engine
from mpt_edge.engines.triton import ServerUnavailable
from mpt_edge.stream.run import RunOptions, run_stream
from train.data.synthetic_video import plan_events, render_stream, write_video

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")]
runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(stream_model, tmp_path_factory):
    """The session's small model (conftest.stream_model) as a Triton repository, and its local bundle."""
    if os.environ.get("CI") is None and triton_server.ready_venv() is None:
        pytest.skip("the Triton venv is not set up: python tests/helpers/triton_server.py setup (CI does it)")
    repo = tmp_path_factory.mktemp("triton") / "repo"
    result = runner.invoke(
        app,
        [
            "build",
            str(stream_model / "run" / "best.pt"),
            "--target",
            "triton-cpu",
            "--out",
            str(repo),
            "--root",
            str(stream_model / "data"),
            "--calibration-size",
            "48",
        ],
    )
    assert result.exit_code == 0, result.output
    return repo, stream_model / "bundle"


@pytest.fixture(scope="module")
def server(built):
    with triton_server.serving(built[0]) as running:
        yield running


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    truth = plan_events(300, [0, 1, 2, 0, 1, 2, 0, 1])
    return write_video(tmp_path_factory.mktemp("video") / "stream.avi", render_stream(truth, 300, seed=101)), truth


def test_the_repository_is_triton_config_checked_against_the_models(built):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    repo = built[0]
    bundle = load_bundle(repo)
    assert bundle.backend == "triton" and bundle.manifest.triton_models == {
        "int8": "mpt_int8",
        "fp32": "mpt_fp32",
    }
    for name, model_file, backend in (
        ("mpt_int8", "1/model.xml", "openvino"),
        ("mpt_fp32", "1/model.onnx", "onnxruntime"),
    ):
        config = text_format.Parse((repo / name / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
        assert config.name == name and config.max_batch_size == 8 and config.HasField("dynamic_batching")
        assert (
            config.dynamic_batching.max_queue_delay_microseconds
            == bundle.manifest.data["triton"]["max_queue_delay_us"]
            == 0
        )  # measured best on CPUs
        assert (config.backend or config.platform.split("_")[0]) == backend
        assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
        engine = open_engine(repo / name / model_file)  # the model file itself: its input names and shapes
        declared = {i.name: [int(d) for d in i.dims] for i in config.input}
        assert set(declared) == set(engine.input_names) == set(bundle.inputs)
        for tensor in config.input:
            assert model_config_pb2.DataType.Name(tensor.data_type) == "TYPE_FP32"
            assert [1, *declared[tensor.name]] == bundle.inputs[tensor.name]
        assert [int(d) for d in config.output[0].dims] == bundle.outputs["logits"][1:]
        feeds = {
            n: np.zeros([4, *declared[n]], np.float32) for n in declared
        }  # a batch: the batch dimension is dynamic
        assert engine.infer(feeds).shape == (4, bundle.outputs["logits"][1])


def test_run_through_the_server_finds_the_events_of_the_local_engine(built, server, video, tmp_path):
    repo, local = built
    path, truth = video
    runs = {}
    for name, args in (
        ("server", ["--bundle", str(repo), "--server", server.grpc_url, "--precision", "fp32"]),
        ("local", ["--bundle", str(local)]),
    ):
        events = tmp_path / f"{name}.jsonl"
        result = runner.invoke(app, ["run", *args, "--source", str(path), "--events", str(events), "--json"])
        assert result.exit_code == 0, result.output
        runs[name] = [(e["frame_apex"], e["label"]) for e in expression_lines(events.read_text())]
        summary = json.loads(result.output.strip().splitlines()[-1])
    assert runs["server"] == runs["local"] and len(runs["server"]) >= len(truth) - 1
    assert summary["frames"] == 300
    int8 = runner.invoke(
        app, ["run", "--bundle", str(repo), "--server", server.grpc_url, "--source", str(path), "--json"]
    )
    assert int8.exit_code == 0, int8.output
    report = json.loads(int8.output.strip().splitlines()[-1])
    assert (
        report["server"]["model"] == "mpt_int8"
        and report["server"]["unserved_events"] == 0
        and report["events"] >= len(truth) - 1
    )


def test_concurrent_clients_are_batched_by_the_server(built, server):
    """Four `mpt-edge bench --server` processes at once: the server runs their requests in batches."""
    repo = built[0]
    command = [
        sys.executable,
        "-m",
        "app",
        "bench",
        str(repo),
        "--server",
        server.grpc_url,
        "--precision",
        "fp32",
        "--seconds",
        "3",
        "--warmup",
        "2",
        "--json",
    ]
    clients = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(4)
    ]
    reports = []
    for client in clients:
        out, err = client.communicate(timeout=120)
        assert client.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["backend"] == "triton" and r["latency_ms"]["p50"] > 0 for r in reports)
    from tritonclient.grpc import InferenceServerClient

    stats = InferenceServerClient(server.grpc_url[len("grpc://") :]).get_inference_statistics("mpt_fp32", as_json=True)
    sizes = {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in stats["model_stats"][0]["batch_stats"]}
    assert max(sizes) > 1, sizes  # requests of different processes merged into one execution


def test_a_server_killed_mid_stream_is_one_line_then_reconnected(built, video, tmp_path):
    repo = built[0]
    # 3000 frames (~12 s at the stream's pace): the server's restart (~3 s) and the client's back-off
    # (0.5 s doubling) must fit in what is left after the first event; 1500 frames left it too little on a fast run
    truth = plan_events(3000, [k % 3 for k in range(50)], gap=60)
    long_video = write_video(tmp_path / "long.avi", render_stream(truth, 3000, seed=101))
    ports = (triton_server.free_port(), triton_server.free_port(), triton_server.free_port())
    work = tmp_path / "server"
    work.mkdir()
    first = triton_server.start(repo, work, ports)
    restarted: list = []

    def kill_and_restart(event):
        if not restarted:
            restarted.append(None)
            first.kill()
            threading.Thread(
                target=lambda: restarted.append(triton_server.start(repo, work, ports)), daemon=True
            ).start()

    lines: list[str] = []
    try:
        started = time.monotonic()
        summary = run_stream(
            repo,
            str(long_video),
            open(os.devnull, "w"),
            RunOptions(server=f"grpc://127.0.0.1:{ports[0]}"),
            on_event=kill_and_restart,
            log=lines.append,
        )
        elapsed = time.monotonic() - started
    finally:
        first.stop()
        for server in restarted[1:]:
            server.stop()
    report = summary.server
    assert report is not None
    assert report.outages == 1 and report.unserved_events >= 1 and report.failed_requests >= report.unserved_events
    assert summary.frames == 3000 and summary.events >= 2  # before the kill and after the restart
    assert summary.events + report.unserved_events >= len(truth) - 2
    assert sum("unavailable" in line for line in lines) == 1 and any("back after" in line for line in lines), lines
    assert elapsed < 120  # nothing waited on the dead server beyond one request's timeout


def test_a_broken_config_and_a_mismatched_repository_are_one_line(built, server, tmp_path):
    repo = built[0]
    broken = tmp_path / "broken"
    shutil.copytree(repo, broken)
    config = broken / "mpt_fp32" / "config.pbtxt"
    config.write_text(
        config.read_text().replace(
            'platform: "onnxruntime_onnx"', 'platform: "onnxruntime_onnx"\ndefault_model_filename: "missing.onnx"'
        )
    )
    unreadable = broken / "mpt_int8" / "config.pbtxt"
    unreadable.write_text(unreadable.read_text().replace("max_batch_size: 8", "max_batch_size: -3"))
    with triton_server.serving(broken, extra=("--exit-on-error=false", "--strict-readiness=false")) as running:
        # the host's copy is intact (its files are hash-checked); the server's configs are not
        result = runner.invoke(
            app, ["bench", str(repo), "--server", running.grpc_url, "--precision", "fp32", "--seconds", "1"]
        )
        assert result.exit_code == EXIT_USER_ERROR and "Traceback" not in result.output, result.output
        assert (
            "could not load model 'mpt_fp32'" in result.output and "missing.onnx" in result.output
        )  # Triton's own reason
        assert len(result.output.strip().splitlines()) == 1
        result = runner.invoke(
            app, ["bench", str(repo), "--server", running.grpc_url, "--precision", "int8", "--seconds", "1"]
        )
        assert (
            result.exit_code == EXIT_USER_ERROR
            and "did not load it" in result.output
            and "config.pbtxt" in result.output
        ), result.output
        other = tmp_path / "other"
        shutil.copytree(repo, other)
        manifest = json.loads((other / "manifest.json").read_text())
        manifest["inputs"]["motion"] = [1, 25, 6]  # a build with another token grid
        (other / "manifest.json").write_text(json.dumps(manifest))
        result = runner.invoke(app, ["bench", str(other), "--server", server.grpc_url, "--seconds", "1"])
        assert result.exit_code == EXIT_USER_ERROR and "serves another build" in result.output, result.output
    gone = runner.invoke(app, ["bench", str(repo), "--server", running.grpc_url, "--seconds", "1"])
    assert (
        gone.exit_code == EXIT_USER_ERROR
        and "cannot reach Triton server" in gone.output
        and "Traceback" not in gone.output
    )
    local = runner.invoke(app, ["bench", str(repo), "--seconds", "1"])
    assert local.exit_code == EXIT_USER_ERROR and "pass --server grpc://" in local.output
    assert (
        runner.invoke(app, ["bench", str(built[1]), "--server", "grpc://127.0.0.1:1"]).output.count(
            "--target triton-cpu"
        )
        == 1
    )


def test_the_engine_fails_fast_while_the_server_is_down(built, tmp_path):
    repo = built[0]
    with triton_server.serving(repo) as running:
        engine = open_bundle_engine(load_bundle(repo), precision="fp32", server=running.grpc_url, log=lambda m: None)
        feeds = {name: np.zeros(shape, np.float32) for name, shape in load_bundle(repo).inputs.items()}
        assert engine.infer(feeds).shape == (1, 3)
    started = time.monotonic()
    for _ in range(5):
        with pytest.raises(ServerUnavailable):
            engine.infer(feeds)
    assert time.monotonic() - started < 12 and engine.failures == 5 and engine.outages == 1


def test_the_gpu_repository_is_checked_statically(tmp_path):
    """triton-gpu cannot be served here (no GPU, no TensorRT backend): its configs parse with Triton's
    schema, name the TensorRT and ONNX Runtime backends on the GPU, and the plan's build script has
    the strongly typed flag and batch profiles up to max_batch_size."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    from targets import get_target
    from targets.triton import repository_files

    profile = get_target("triton-gpu")
    inputs, outputs = {"apex": [1, 3, 224, 224], "motion": [1, 49, 6]}, {"logits": [1, 3]}
    for name in ("fp32.onnx", "int8_qdq.onnx"):
        (tmp_path / name).write_bytes(b"onnx")
    files, roles, record = repository_files(
        profile, tmp_path / "fp32.onnx", tmp_path / "int8_qdq.onnx", inputs, outputs, tmp_path
    )
    assert (
        roles == {"model_fp32": "mpt_fp32/1/model.onnx", "model": "mpt_int8/model_int8_qdq.onnx"}
        and "build_engine.sh" in files
    )
    script = files["build_engine.sh"]
    int8 = text_format.Parse(files["mpt_int8/config.pbtxt"].read_text(), model_config_pb2.ModelConfig())
    fp32 = text_format.Parse(files["mpt_fp32/config.pbtxt"].read_text(), model_config_pb2.ModelConfig())
    assert int8.platform == "tensorrt_plan" and fp32.platform == "onnxruntime_onnx"
    for config in (int8, fp32):
        assert (
            config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU and config.max_batch_size == 8
        )
        assert [list(i.dims) for i in config.input] == [[3, 224, 224], [49, 6]] and list(config.output[0].dims) == [3]
    text = script.read_text()
    assert (
        "--stronglyTyped" in text
        and "--saveEngine=mpt_int8/1/model.plan" in text
        and "apex:8x3x224x224,motion:8x49x6" in text
    )
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0 and record["kind"] == "KIND_GPU"
