"""The Python API gives what the commands give: the docs' streaming example runs as written (on a bundle and
a video of this session) and its events are the JSON lines of ``mpt-edge run``; ``predict`` agrees with the
stream; engines close; the stage APIs return typed results equal to the commands' JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from train.data.synthetic_video import plan_events, render_stream, write_video

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def bundle_dir(stream_model):
    return stream_model / "bundle"


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    truth = plan_events(300, [0, 1, 2, 0, 1, 2, 0, 1])
    return write_video(tmp_path_factory.mktemp("api-video") / "session.avi", render_stream(truth, 300, seed=101))


def docs_example(name: str = "api.md") -> str:
    """The python block that follows the 'runs as a test' marker in a docs page."""
    page = (ROOT / "docs" / name).read_text()
    marker = "<!-- the block below runs as a test: tests/mpt_edge/test_api.py -->"
    block = re.search(re.escape(marker) + r"\n```python\n(.+?)```", page, re.S)
    assert block, f"docs/{name} lost its tested example"
    return block.group(1)


def test_the_docs_streaming_example_runs_and_gives_the_events_of_mpt_edge_run(bundle_dir, video, tmp_path, capsys):
    code = docs_example()
    assert len(code.strip().splitlines()) <= 10, "the docs promise a ten-line example"
    code = code.replace('"bundle"', repr(str(bundle_dir))).replace('"session.mp4"', repr(str(video)))
    scope: dict[str, object] = {}
    exec(compile(code, "docs/api.md", "exec"), scope)
    events = [event.as_dict() for event in scope["events"]]  # type: ignore[attr-defined]
    printed = capsys.readouterr().out
    assert f"{len(events)} events" in printed and len(events) >= 6

    events_file = tmp_path / "events.jsonl"
    result = runner.invoke(
        app, ["run", "--bundle", str(bundle_dir), "--source", str(video), "--events", str(events_file)]
    )
    assert result.exit_code == 0, result.output
    assert events == [json.loads(line) for line in events_file.read_text().splitlines()]


def test_predict_on_the_stream_crops_gives_the_event_class(bundle_dir, video):
    import mpt_edge
    from mpt_edge.stream.session import StreamSession

    with mpt_edge.Bundle.open(bundle_dir) as bundle:
        assert bundle.class_names == ["negative", "positive", "surprise"] and bundle.precision == "fp32"
        checked = 0
        with StreamSession(bundle.files, bundle.engine, str(video)) as session:
            for _, event in session.frames():
                if event is not None and event.label is not None:
                    onset, apex = session.pipeline.last_event_crops
                    prediction = bundle.predict(onset, apex, aligned=True)
                    assert (prediction.label, prediction.scores) == (event.label, event.scores)
                    checked += 1
        assert checked >= 3


def test_an_event_stream_stops_its_source_when_left_early(bundle_dir, video):
    import mpt_edge

    with mpt_edge.Bundle.open(bundle_dir) as bundle, bundle.stream(video, max_frames=60) as stream:
        events = list(stream)
        expressions = [e for e in events if e.is_expression]
        assert stream.summary.frames == 60 and stream.summary.events == len(expressions)
        assert stream.summary.blinks == sum(e.type == "blink" for e in events)
        # typed from the session on; its JSON (what `run --json` prints) reads back to the same object
        summary = stream.summary
        assert isinstance(summary, mpt_edge.StreamSummary) and summary.latency_ms_apex_to_event is not None
        assert mpt_edge.StreamSummary.from_dict(json.loads(json.dumps(summary.as_dict()))) == summary
        assert stream._session.capture is not None and not stream._session.capture._thread.is_alive()


def test_engines_close_and_are_context_managers(bundle_dir):
    import numpy as np

    from mpt_edge.bundle import load_bundle
    from mpt_edge.engines import open_bundle_engine

    bundle = load_bundle(bundle_dir)
    engine = open_bundle_engine(bundle, lambda _: None, precision="fp32")
    with engine as opened:
        feeds = {name: np.zeros(shape, np.float32) for name, shape in bundle.inputs.items()}
        assert opened.infer(feeds).shape == (1, 3)
    assert engine.closed and not hasattr(engine, "session")  # the ONNX Runtime session is released
    engine.close()  # twice is harmless


def test_bundle_open_of_a_folder_that_is_no_bundle_is_one_line(tmp_path):
    import mpt_edge
    from mpt_edge.errors import MptEdgeError

    with pytest.raises(MptEdgeError, match="not an mpt-edge bundle"):
        mpt_edge.Bundle.open(tmp_path)


def test_the_evaluate_api_is_what_eval_json_prints(stream_model):
    from train.api import EvalResult, evaluate
    from train.options import DataSpec

    result = evaluate(stream_model / "bundle", DataSpec(root=stream_model / "data"))
    assert isinstance(result, EvalResult) and result.composite.samples > 0 and 0.0 <= result.composite.uf1 <= 1.0
    printed = runner.invoke(app, ["eval", str(stream_model / "bundle"), "--root", str(stream_model / "data"), "--json"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == json.loads(json.dumps(result.as_dict()))


def test_the_build_api_returns_the_bundle_it_wrote(stream_model, tmp_path):
    import mpt_edge
    from targets.api import BundleInfo, build, list_targets

    assert {t.name for t in list_targets()} >= {"openvino-cpu", "onnxruntime-cpu", "jetson-orin", "triton-cpu"}
    info = build(stream_model / "run" / "best.pt", "onnxruntime-cpu", tmp_path / "bundle", work=tmp_path / "work")
    assert isinstance(info, BundleInfo) and info.backend == "onnxruntime" and "model.onnx" in info.files
    with mpt_edge.Bundle.open(info.path) as bundle:
        assert bundle.target == "onnxruntime-cpu"


def test_an_event_line_reads_back_as_the_event_it_was():
    """`mpt-edge run` writes Event.as_dict() as JSON lines; Event.from_dict reads such a file back."""
    from mpt_edge import Event

    labelled = Event(
        "ME", 10, 14, 19, 0.333, 0.467, 0.633, 3.2, "positive", {"negative": 0.1, "positive": 0.9}, (4, 5, 60, 70)
    )
    unlabelled = Event("MaE", 30, 50, 90, 1.0, 1.667, 3.0, 2.5)
    for event in (labelled, unlabelled):
        assert Event.from_dict(json.loads(json.dumps(event.as_dict()))) == event
    assert "label" not in unlabelled.as_dict() and unlabelled.as_dict()["face_box"] is None


def test_a_bundle_of_a_model_that_reads_both_ways_predicts_what_its_checkpoint_does(stream_model, tmp_path):
    """``read_mirrored`` travels from the checkpoint into the bundle's manifest, and the device then
    reads each pair twice: its scores are the checkpoint's mean softmax of the pair and of the pair mirrored."""
    import numpy as np
    import torch

    import mpt_edge
    from mpt_edge.preprocess import model_inputs
    from train.checkpoint import load_model, read_checkpoint
    from train.data.synthetic import generate
    from train.fit import predict

    payload = read_checkpoint(stream_model / "run" / "best.pt")
    payload["motion_config"]["read_mirrored"] = True
    torch.save(payload, tmp_path / "both-ways.pt")
    built = runner.invoke(
        app, ["build", str(tmp_path / "both-ways.pt"), "--target", "onnxruntime-cpu", "--out", str(tmp_path / "b")]
    )
    assert built.exit_code == 0, built.output
    model, _ = load_model(tmp_path / "both-ways.pt")
    clip = generate(num_subjects=1, clips_per_class=1, size=224, seed=5)[0]
    onset, apex = clip.frames[clip.onset], clip.frames[clip.apex]
    each = [
        predict(model, *(torch.from_numpy(a[None]) for a in model_inputs(onset, apex, model.motion_config, m)), True)[0]
        for m in (False, True)
    ]
    assert float((each[0] - each[1]).abs().max()) > 2e-3  # reading once would be off by half of it
    with mpt_edge.Bundle.open(tmp_path / "b") as bundle:
        assert bundle.files.motion_config.read_mirrored is True
        prediction = bundle.predict(onset, apex, aligned=True)
    expected = ((each[0] + each[1]) / 2).numpy()
    np.testing.assert_allclose([prediction.scores[n] for n in bundle.class_names], expected, atol=3e-4)


def test_the_readings_benchmark_runs_on_a_bundle_and_prints_json(bundle_dir):
    """benchmarks/bench_readings.py keeps running (its figures belong to the benchmark, not asserted here)."""
    from helpers.benchmarks import run_benchmark

    report = run_benchmark("bench_readings.py", str(bundle_dir), "--pairs", "2", "--rounds", "1")
    assert set(report["ms_per_event"]) == {"once", "both_ways"} and min(report["ms_per_event"].values()) > 0
    assert report["target"] == "onnxruntime-cpu" and report["both_ways_over_once"] > 0
