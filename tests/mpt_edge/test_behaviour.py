"""The face's own doings: blinks and talking recognised as spans (the rule and the learned recogniser),
scored against a record, carried as events to ``spot``'s rows and the report; the learned recogniser's
ONNX model against its training-side twin."""

from __future__ import annotations

import numpy as np
import pytest

from mpt_edge.spotting.behaviour import BehaviourScore, Span, score_behaviour
from mpt_edge.spotting.intervals import Counts, Distractors
from tests.mpt_edge.test_spotting import _talking_face


def _spans(config_changes: dict) -> tuple[list[Span], list]:
    from mpt_edge.spotting.spotter import ApexSpotter, SpotterConfig

    stream, _ = _talking_face(360)
    spotter = ApexSpotter(SpotterConfig(mask_eyes=True, regions=True, **config_changes))
    spans, spots = [], []
    for t, image in enumerate(stream):
        if (spot := spotter.update_signal(t, image)) is not None:
            spots.append(spot)
        spans += spotter.take_spans()
    return spans + spotter.close(), spots


def test_blinks_and_talking_come_out_as_spans_where_they_happened():
    """The drawn talking face: the mouth moves 4 times a second over frames 60-200, the lids at 237-243 and
    297-303. The rule recognises one spell over the talking and each blink exactly, and no expression."""
    spans, spots = _spans({"learned_talking": False})
    blinks = [(s.onset, s.offset) for s in spans if s.kind == "blink"]
    talking = [s for s in spans if s.kind == "talking"]
    assert blinks == [(237, 243), (297, 303)], spans
    assert len(talking) == 1 and 55 <= talking[0].onset <= 75 and 195 <= talking[0].offset <= 220, talking
    assert all(s.onset <= s.apex <= s.offset for s in spans) and not spots


def test_spans_of_one_tracker_never_overlap_and_outlive_a_reset():
    from mpt_edge.spotting.behaviour import BehaviourTracker
    from mpt_edge.spotting.spotter import SpotterConfig

    tracker = BehaviourTracker(SpotterConfig())
    for t in range(100):
        tracker.update(t, mouth=0.0, eyes=5.0 if 10 <= t < 14 else 0.0, limit=1.0, talking=20 <= t < 60 or t >= 70)
    tracker.close()  # a crop change at frame 99: the open spell ends there
    spans = tracker.take()
    assert [(s.kind, s.onset, s.offset) for s in spans] == [
        ("blink", 10, 13),
        ("talking", 20, 59),
        ("talking", 70, 99),
    ]
    assert tracker.blink_count == 1 and tracker.take() == []


def test_behaviour_scores_hand_computed():
    record = Distractors(blinks=(100, 200, 300), talking=((400, 499),))
    spans = [
        Span("blink", 98, 100, 104),  # TP
        Span("blink", 203, 205, 206),  # TP: 200 is 0.1 s (3 frames) before it
        Span("blink", 250, 251, 252),  # FP
        Span("talking", 450, 470, 549),  # 50 frames in both, union 150
    ]
    score = score_behaviour(spans, record, frames=600, fps=30.0)
    assert score.blinks == Counts(tp=2, fp=1, fn=1)
    assert score.talking_iou == pytest.approx(50 / 150) and score.talking_recall == pytest.approx(0.5)
    assert (score + BehaviourScore()).talking_union == 150


def test_a_blink_event_round_trips_and_is_no_expression():
    from mpt_edge.stream.events import Event

    blink = Event("blink", 10, 12, 14, 0.33, 0.4, 0.47, 6.5, face_box=(1, 2, 3, 4))
    assert Event.from_dict(blink.as_dict()) == blink and not blink.is_expression
    assert "label" not in blink.as_dict() and Event("ME", 1, 2, 3, 0, 0, 0, 2.0).is_expression


def test_the_report_draws_and_counts_the_spans():
    from mpt_edge.spotting.report import SPAN_COLOURS, ReportData, render_html, timeline_image

    energy, threshold = np.full(900, 0.01), np.full(900, 0.02)
    spans = [Span("talking", 100, 150, 400), Span("blink", 600, 602, 605)]
    image = timeline_image(energy, threshold, [], 30.0, spans=spans)
    for kind, colour in SPAN_COLOURS.items():
        assert (np.abs(image.astype(int) - colour).sum(axis=2) == 0).any(), kind
    page = render_html(ReportData("t", "s", 30.0, 900, [], energy, threshold, spans=spans))
    assert "Blinks: 1 (2 a minute). Talking: 1 spells, 10.0 s (33 % of the time)." in page


# --- the learned recogniser ---------------------------------------------------------------------------


def test_the_talking_onnx_model_computes_its_training_side_twin(tmp_path):
    """A model written by train.talking_scorer gives through onnxruntime what its weights give in numpy,
    on the features TalkingFeatures computes; the shipped model too."""
    import onnx
    from onnx import numpy_helper

    from mpt_edge.spotting.talking import MODEL, TalkingFeatures, TalkingRecogniser
    from train.talking_scorer import fit, write_onnx

    rng = np.random.default_rng(0)
    faces = [rng.random((96, 96)).astype(np.float32) for _ in range(40)]
    features = TalkingFeatures()
    rows = np.concatenate([row for t, face in enumerate(faces) if (row := features.update(t, face)) is not None])
    assert rows.shape == (38, 144)  # from the third frame on (LAG 2)
    labels = rows[:, :20].mean(axis=1) > np.median(rows[:, :20].mean(axis=1))
    videos = [(f"p{k}", rows[k::2], labels[k::2]) for k in range(2)]
    model = fit(videos)
    path = write_onnx(tmp_path / "talking.onnx", model, "fixture")
    for candidate in (path, MODEL):
        proto = onnx.load(str(candidate))
        weights = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
        recogniser = TalkingRecogniser(model=candidate)
        said = []
        for t, face in enumerate(faces):
            recogniser.update(t, face)
            said.append(recogniser.probability)
        twin = 1 / (1 + np.exp(-(rows @ weights["w"][:, 0] + weights["b"][0])))
        np.testing.assert_allclose(said[2:], twin, rtol=1e-4, atol=1e-6)
        meta = {p.key: p.value for p in proto.metadata_props}
        assert 0 < float(meta["threshold"]) < 1 and meta["trained_on"]


def test_a_blink_does_not_move_the_tracked_face_on_the_landmark_layout():
    """The tracker measured the lids' motion as the head's (0.2-0.8 px at every blink on real faces: the crop
    followed and the lips showed the shift as an ME); measured without the eyes, a blink moves nothing."""
    from mpt_edge.spotting.spotter import SpotterConfig, rigid_pixels
    from mpt_edge.stream.tracking import CropTracker

    stream, blinks = _talking_face(360)
    neutral, blink = stream[230], stream[blinks[0]]
    whole, rigid = CropTracker(), CropTracker()
    rigid.set_rigid(rigid_pixels(SpotterConfig()))
    for tracker in (whole, rigid):
        tracker.anchor(neutral)
    moved = whole.measure(blink).distance
    assert rigid.measure(blink, rigid=True).distance < 0.1 and moved > 0.5, (rigid.measure(blink, rigid=True), moved)


def test_the_talking_model_ships_inside_the_package():
    """A device install has no train extra: the recogniser must come with the wheel, or the spotter falls
    back to the syllable rule."""
    from pathlib import Path

    import tomllib

    from mpt_edge.spotting.talking import MODEL

    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mpt_edge"]
    assert MODEL.is_file() and str(MODEL.relative_to(root / "mpt_edge")) in data
