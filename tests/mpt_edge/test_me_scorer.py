"""The learned ME scorer: its features on a known face, its ONNX model against the training-side twin (the
scikit-learn model it was fitted as), and the pipeline putting each ME candidate to it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.mpt_edge.test_behaviour import _canonical, _textured_face


def _faces() -> tuple[np.ndarray, np.ndarray]:
    """A textured face and the same face with one lip corner pulled 2 px sideways (an AU12-like change)."""
    import cv2

    onset = _textured_face(224, seed=3)
    apex = onset.copy()
    x, y = _canonical("mouth", 224)
    x += 30  # a lip corner
    patch = onset[y - 12 : y + 12, x - 12 : x + 12]
    apex[y - 12 : y + 12, x - 12 : x + 12] = cv2.warpAffine(
        patch, np.float32([[1, 0, 2], [0, 1, 0]]), patch.shape[1::-1], borderMode=cv2.BORDER_REPLICATE
    )
    return onset, apex


def test_candidate_features_read_where_and_how_far_the_face_moved():
    from mpt_edge.spotting.me_scorer import SCALARS, CandidateContext, candidate_features, map_names
    from mpt_edge.spotting.spotter import ApexSpotter, Spot, SpotterConfig, cell_energies, face_signal

    config = SpotterConfig(mask_eyes=True)
    spotter = ApexSpotter(config)
    onset, apex = _faces()
    small_onset, small_apex = face_signal(onset, config.size), face_signal(apex, config.size)
    spotter.peak_region[14] = "mouth"
    spotter.behaviour.blinks.append(14 + 15)  # half a second after the apex
    # the second before the onset: 5 of its 30 frames over the threshold; the mouth's energy alternating 1 and 3
    for i in range(10 - 60, 10):
        spotter.recent.append((i, 2.0 if 0 <= i < 5 else 0.5, 1.0 + 2.0 * (i % 2)))
    spot = Spot(10, 14, 18, peak_energy=0.03, threshold=0.01)
    features = candidate_features(spot, spotter, CandidateContext(small_onset, small_apex, 0.25))[0]
    names = (*SCALARS, *map_names(config.cells, config.margin_cells))
    assert features.shape == (len(names),) and features.dtype == np.float32
    value = dict(zip(names, features, strict=True))
    assert value["log_peak_ratio"] == pytest.approx(np.log(3.0))
    assert value["interval_s"] == pytest.approx(8 / 30) and value["rise_s"] == pytest.approx(4 / 30)
    assert value["peak_in_mouth"] == 1 and value["peak_beside_eyes"] == 0
    assert value["blink_distance_s"] == pytest.approx(0.5) and value["syllable_distance_s"] == 2.0  # none: capped
    assert value["head_moved_px"] == pytest.approx(0.25) and value["talking"] == 0
    assert value["active_before"] == pytest.approx(5 / 30) and value["mouth_unrest"] == pytest.approx(1.0, rel=1e-3)
    # the onset -> apex map: largest at the lip corner, and the same cells as cell_energies over the threshold
    moving = cell_energies(small_apex, small_onset, config)[2:10, 2:10]
    cells = features[len(SCALARS) :].reshape(8, 8)
    np.testing.assert_allclose(cells, np.log(np.maximum(moving, 1e-6) / 0.01), rtol=1e-5)
    row, col = np.unravel_index(np.argmax(cells), cells.shape)
    x, y = _canonical("mouth", 96)
    assert abs((row + 2.5) * 8 - y) <= 12 and (col + 2.5) * 8 > x, (row, col)
    assert 0 < value["spread"] < 0.2  # a lip corner, not the whole face


def test_the_spotter_keeps_each_measured_frames_energy_for_the_scorer():
    """What the scorer's ``active_before`` and ``mouth_unrest`` read: every warm frame's energy and mouth energy over
    the threshold it met, for the last ``history_frames`` (scaled with the frame rate, as every frame count)."""
    from mpt_edge.spotting.spotter import ApexSpotter, SpotterConfig

    config = SpotterConfig(mask_eyes=True, learned_talking=False)
    spotter = ApexSpotter(config)
    rng = np.random.default_rng(0)
    face = _textured_face(224, seed=3)
    for i in range(100):
        spotter.update(i, np.clip(face + rng.normal(0, 2, face.shape), 0, 255).astype(np.uint8))
        if len(spotter.recent) and spotter.recent[-1][0] == i:
            index, energy, mouth = spotter.recent[-1]
            assert energy == pytest.approx(spotter.last_energy / spotter.last_threshold)
            assert mouth == pytest.approx(spotter.last_mouth / spotter.last_threshold) and mouth > 0
    assert len(spotter.recent) == config.history_frames and spotter.recent[-1][0] == 99
    # the scorer's windows fit in what the spotter keeps (else its features would read a truncated history)
    from mpt_edge.spotting.me_scorer import ACTIVE_S, UNREST_S

    assert max(ACTIVE_S, UNREST_S) * config.fps <= config.history_frames
    assert config.for_fps(60.0).history_frames == 2 * config.history_frames


def _fixture_videos(rng: np.random.Generator):
    from mpt_edge.spotting.intervals import Interval
    from mpt_edge.spotting.me_scorer import SCALARS
    from train.me_scorer import VideoCandidates

    videos = []
    n = len(SCALARS) + 64
    for person in range(3):
        candidates, truth, rows = [], [], []
        for k in range(30):
            onset = 40 * k
            real = k % 3 == 0
            candidates.append(Interval(onset, onset + 3, onset + 8, "ME"))
            if real:
                truth.append(Interval(onset, onset + 3, onset + 8, "ME"))
            row = rng.normal(0, 1, n)
            row[0] += 3.0 if real else 0.0  # the peak ratio tells them apart, mostly
            rows.append(row)
        videos.append(VideoCandidates(f"p{person}", tuple(truth), (), tuple(candidates), np.float32(rows), 1200, 30.0))
    return videos


def test_the_me_scorer_onnx_model_computes_its_training_side_twin(tmp_path):
    """train.me_scorer folds its standardisation into the weights: the ONNX model through onnxruntime gives
    what the fitted scikit-learn pipeline gives, and its metadata names the candidates' spotter it needs."""
    import json

    import onnx

    from mpt_edge.spotting.me_scorer import MeScorer
    from train.me_scorer import Choice, _model, choose, columns, fit, write_onnx

    videos = _fixture_videos(np.random.default_rng(0))
    choices = choose({"bar 1.0": videos}, log=lambda _: None)
    assert choices[0].overall_f1 > 0.5  # the planted signal is found leaving each person out
    for feature_set in ("scalars", "scalars+map"):
        choice = Choice("bar 1.0", feature_set, 0.1, 0.5, 0.0, 0.0, 0.0)
        model = fit(videos, choice)
        path = write_onnx(tmp_path / f"{feature_set}.onnx", model, {"me_candidate_ratio": 1.0}, "fixture")
        x = np.concatenate([v.features for v in videos])
        y = np.concatenate([v.labels() for v in videos])
        cols = columns(feature_set, x.shape[1])
        twin = _model(0.1).fit(x[:, cols], y).predict_proba(x[:, cols])[:, 1]
        scorer = MeScorer(path)
        said = np.array([scorer.probability(row[None, :]) for row in x])
        np.testing.assert_allclose(said, twin, rtol=1e-4, atol=1e-5)
        meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert json.loads(meta["candidate_spotter"]) == {"me_candidate_ratio": 1.0}
        assert meta["features"] == feature_set and scorer.threshold == 0.5


def test_the_pipeline_puts_each_me_candidate_to_the_scorer(tmp_path):
    """A scorer that keeps nothing drops the candidate (counted), one that keeps everything lets it through;
    a trainer listening gets the features either way."""
    from mpt_edge.spotting.me_scorer import MeScorer
    from mpt_edge.spotting.spotter import Spot, SpotterConfig
    from mpt_edge.stream.pipeline import Pipeline, PipelineConfig
    from train.me_scorer import Choice, fit, write_onnx

    videos = _fixture_videos(np.random.default_rng(1))
    model = fit(videos, Choice("bar 1.0", "scalars", 0.1, 0.5, 0.0, 0.0, 0.0))
    path = write_onnx(tmp_path / "me.onnx", model, {"me_candidate_ratio": 1.0}, "fixture")
    pipeline = Pipeline(None, None, PipelineConfig(face_detector="none", spotter=SpotterConfig(mask_eyes=True)))
    onset, apex = _faces()
    still = np.zeros(2)
    spot = Spot(10, 14, 18, 0.03, 0.01)
    pipeline.candidates = []
    assert pipeline._scorer_keeps(spot, still, still, onset, apex)  # no scorer: kept, features recorded
    for threshold, kept in ((1.0, False), (0.0, True)):
        pipeline.me_scorer = MeScorer(path, threshold=threshold)
        assert pipeline._scorer_keeps(spot, still, still, onset, apex) is kept
    assert len(pipeline.candidates) == 3 and all(
        f.shape == pipeline.candidates[0][1].shape for _, f in pipeline.candidates
    )


def test_the_shipped_me_scorer_matches_the_spotters_defaults_and_never_saw_held_out_people():
    """The model is package data (a device install has no train extra); the candidates it was trained on are the
    spotter's defaults (one source of truth: a default changed without retraining fails here); its features are
    :func:`candidate_features`'; it was fitted on tuning people only."""
    import json
    from dataclasses import fields
    from pathlib import Path

    import onnx
    import tomllib

    from mpt_edge.spotting.me_scorer import MODEL, SCALARS, map_names
    from mpt_edge.spotting.spotter import SpotterConfig

    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mpt_edge"]
    assert MODEL.is_file() and str(MODEL.relative_to(root / "mpt_edge")) in data
    proto = onnx.load(str(MODEL))
    meta = {p.key: p.value for p in proto.metadata_props}
    defaults = SpotterConfig()
    spotter = json.loads(meta["candidate_spotter"])
    assert spotter and set(spotter) <= {f.name for f in fields(SpotterConfig)}
    assert all(getattr(defaults, name) == value for name, value in spotter.items()), spotter
    names = (*SCALARS, *map_names(defaults.cells, defaults.margin_cells))
    width = proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    assert width == len(names) and meta["feature_names"].split(",") == list(names)
    assert "tuning" in meta["trained_on"] and "held-out" not in meta["trained_on"]


def test_a_missing_scorer_model_is_one_clear_error(tmp_path, monkeypatch):
    """A device install that lost the model must say so, not spot with the candidates' low bar unjudged."""
    import mpt_edge.stream.pipeline as pipeline_module
    from mpt_edge.errors import InputError
    from mpt_edge.spotting.spotter import SpotterConfig
    from mpt_edge.stream.pipeline import Pipeline, PipelineConfig

    monkeypatch.setattr(pipeline_module, "ME_SCORER_MODEL", tmp_path / "me_scorer.onnx")
    with pytest.raises(InputError, match="me_scorer.onnx is missing .* reinstall mpt-edge"):
        Pipeline(None, None, PipelineConfig(face_detector="none", spotter=SpotterConfig(mask_eyes=True)))
    # crops of unknown layout (no landmarks) never ask for it
    Pipeline(None, None, PipelineConfig(face_detector="none", spotter=SpotterConfig(mask_eyes=False)))


def test_a_threshold_outside_zero_to_one_is_refused_in_one_line():
    from mpt_edge.errors import InputError
    from mpt_edge.spotting.me_scorer import MeScorer

    for threshold in (-0.1, 1.5):
        with pytest.raises(InputError, match="a probability, from 0 to 1"):
            MeScorer(threshold=threshold)


def test_the_scorer_is_chosen_within_the_false_me_bound():
    """The best overall F1 among the choices within a false ME a minute wins over a better F1 past it; with none
    within it, the fewest false MEs."""
    from train.me_scorer import FALSE_ME_BOUND, Choice, ranked

    loud = Choice("bar 1", "scalars", 0.1, 0.5, 0.70, 0.6, FALSE_ME_BOUND + 0.5)
    bounded = Choice("bar 1", "scalars", 0.1, 0.7, 0.62, 0.5, FALSE_ME_BOUND - 0.2)
    weaker = Choice("bar 1", "scalars", 0.1, 0.8, 0.55, 0.4, 0.3)
    assert ranked([loud, weaker, bounded]) == [bounded, weaker, loud]
    louder = Choice("bar 1", "scalars", 0.1, 0.3, 0.75, 0.7, FALSE_ME_BOUND + 2.0)
    assert ranked([louder, loud]) == [loud, louder]


def test_the_trainer_names_its_candidate_spotters_when_one_is_misspelled():
    """`python -m train.me_scorer --only "eyes 0.05, bar 1.0, corners 1"` (the spotter is called "bar 1"): one line
    naming the choices, before any set is rendered or read — not a KeyError traceback after minutes of loading."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "train.me_scorer", "--only", "eyes 0.05, bar 1.0, corners 1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "invalid choice" in done.stderr and "'eyes 0.05, bar 1, corners 1'" in done.stderr
