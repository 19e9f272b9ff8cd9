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


@pytest.mark.parametrize("equalise", [False, True])
def test_blinks_and_talking_come_out_as_spans_where_they_happened(equalise):
    """The drawn talking face: the mouth moves 4 times a second over frames 60-200, the lids at 237-243 and
    297-303. The rule recognises one spell over the talking and each blink exactly, and no expression — also
    with each cell held to its own floor (``equalise_cells``), whose floors must not learn the talking: a mouth
    floor risen with the syllables ended the spell at frame 161."""
    spans, spots = _spans({"learned_talking": False, "equalise_cells": equalise})
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


def test_drawn_faces_train_the_talking_recogniser_as_faces_that_never_talk():
    """A face that moves like a talking one but never talks (the drawn face: read as talking 48-64 % of the time
    by a model that never saw one) is a negative in every training fold; its share read as talking is reported,
    each drawn video scored by a model that never saw it, and the real people's leave-one-out figures stay theirs."""
    from train.talking_scorer import fit

    rng = np.random.default_rng(1)

    def person(name: str, talks: bool, n: int = 300) -> tuple[str, np.ndarray, np.ndarray]:
        truth = np.zeros(n, bool) if not talks else (np.arange(n) // 50) % 2 == 1
        rows = rng.normal(0.0, 1.0, (n, 144)).astype(np.float32)
        rows[truth, :12] += 2.0  # talking: the mouth's cells move
        return name, rows, truth

    real = [person(f"p{k}", True) for k in range(3)]
    drawn = []
    for k in range(2):  # a drawn face: its mouth's cells move all the time with its sharp outline's, it never talks
        name, rows, _ = person(f"drawn-{k}", False)
        rows[:, :12] += 2.0
        rows[:, 24:36] += 2.0
        drawn.append((name, rows, np.zeros(len(rows), bool)))
    alone, together = fit(real), fit(real, drawn)
    assert alone.drawn_talking_share == () and len(together.drawn_talking_share) == 2
    assert max(together.drawn_talking_share) < 0.5  # learned: mouth motion alone is not talking on such a face

    def share(model, rows: np.ndarray) -> float:
        return float((1 / (1 + np.exp(-(rows @ model.weights + model.bias))) >= model.threshold).mean())

    assert min(share(alone, rows) for _, rows, _ in drawn) > 0.9  # without them: read as talking throughout
    assert together.people == alone.people == 3 and together.auc_left_out > 0.9


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
    # (the drawn lids are the eye cells' row: 8 px of 96, their pull on the whole face ~0.1 px; 0.6 px when the eye
    # cells took three rows, brows included)
    still = rigid.measure(blink, rigid=True).distance
    assert still < 0.25 * moved and moved > 0.08, (still, moved)


def test_the_talking_model_ships_inside_the_package():
    """A device install has no train extra: the recogniser must come with the wheel, or the spotter falls
    back to the syllable rule."""
    from pathlib import Path

    import tomllib

    from mpt_edge.spotting.talking import MODEL

    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mpt_edge"]
    assert MODEL.is_file() and str(MODEL.relative_to(root / "mpt_edge")) in data


def _textured_face(size: int = 224, seed: int = 0) -> np.ndarray:
    """A face-sized crop of smooth random texture (every region has edges, as a real face's do)."""
    import cv2

    noise = np.random.default_rng(seed).normal(128, 60, (size, size)).astype(np.float32)
    gray = np.clip(cv2.GaussianBlur(noise, (0, 0), 5.0) * 4 - 384, 0, 255).astype(np.uint8)  # edges of ~5 px
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def _canonical(point: str, size: int) -> tuple[int, int]:
    """A canonical landmark's place in a crop of ``size`` px (mpt_edge.faces.align's layout)."""
    from mpt_edge.faces.align import CANONICAL, DEFAULT_MARGIN

    u, v = ((DEFAULT_MARGIN + c) / (1 + 2 * DEFAULT_MARGIN) for c in CANONICAL[point])
    return int(u * size), int(v * size)


def _closed_lids(image: np.ndarray) -> np.ndarray:
    out = image.copy()
    for eye in ("right_eye", "left_eye"):
        x, y = _canonical(eye, image.shape[0])
        out[y - 8 : y + 8, x - 18 : x + 18] = 90  # the lid over the eye: a flat patch where the eye was
    return out


def _shadow_check(apex: np.ndarray, onset: np.ndarray, check: bool) -> bool:
    """Whether the pipeline takes an ME from ``onset`` to ``apex`` (the apex at a blink) for no expression."""
    from mpt_edge.spotting.spotter import Spot, SpotterConfig, cell_energies, face_regions, face_signal
    from mpt_edge.stream.pipeline import Pipeline, PipelineConfig

    spotter = SpotterConfig(mask_eyes=True)
    pipeline = Pipeline(None, None, PipelineConfig(face_detector="none", spotter=spotter, blink_shadow_check=check))
    pipeline.spotter.behaviour.blinks.append(13)  # a blink began a frame before the event's apex
    # the event's peak as the spotter measures it within a blink's hold: the eyes and the cells around them out
    regions = face_regions(spotter.cells, spotter.margin_cells, spotter.eye_reach)
    cells = cell_energies(face_signal(apex, spotter.size), face_signal(onset, spotter.size), spotter)
    peak = float(cells[regions["inner"] & ~regions["eyes"] & ~regions["eye_ring"]].max())
    still = np.zeros(2)  # the tracker's offsets: a blink's pull need not show in them
    return pipeline._is_head_movement(Spot(10, 14, 18, peak, peak / 3), still, still, onset, apex)


def test_an_me_at_a_blink_that_a_rigid_shift_explains_is_the_blinks_shadow():
    """A blink's lids pull the tracker by a fraction of a pixel and the crop follows: the apex is the onset
    shifted by 0.6 crop px with the lids closed. The check (eyes left out) takes it for no expression; without
    the check, or with a real local motion at the mouth beside the same blink, the event stays."""
    import cv2

    onset = _textured_face()
    shifted = cv2.warpAffine(onset, np.float32([[1, 0, 0.6], [0, 1, 0.3]]), (224, 224), borderMode=cv2.BORDER_REPLICATE)
    shadow = _closed_lids(shifted)
    assert _shadow_check(shadow, onset, check=True)
    assert not _shadow_check(shadow, onset, check=False)
    expression = _closed_lids(onset)
    x, y = _canonical("mouth", 224)
    corner = expression[y - 12 : y + 12, x + 10 : x + 40]
    expression[y - 12 : y + 12, x + 10 : x + 40] = cv2.warpAffine(
        corner, np.float32([[1, 0, 0], [0, 1, -2.0]]), corner.shape[1::-1], borderMode=cv2.BORDER_REPLICATE
    )  # a lip corner raised by 2 px: local, no shift of the whole face explains it
    assert not _shadow_check(expression, onset, check=True)


def test_while_the_face_talks_an_me_must_peak_higher():
    from mpt_edge.spotting.spotter import ApexSpotter, SpotterConfig

    quiet = ApexSpotter(SpotterConfig(mask_eyes=True, talking_peak_ratio=2.5))
    assert quiet._peak_bar(100, 104) == 1.8
    quiet.behaviour.learned = True  # the recogniser says the face talks now ...
    assert quiet.talk is not None
    quiet.talk.spells.since = 40  # ... and has since frame 40
    assert quiet._peak_bar(100, 104) == 2.5
    assert quiet._peak_bar(45, 49) == 1.8  # the spell not yet confirmed (12 frames) when the event began: maybe its own
    off = ApexSpotter(SpotterConfig(mask_eyes=True, talking_peak_ratio=None))
    off.behaviour.learned = True
    assert off._peak_bar(100, 104) == 1.8


def test_a_blinks_bar_holds_only_an_me_peaking_at_the_blink():
    """``blink_peak_ratio`` (measured, off by default): an ME peaking within 4 frames of a blink's onset must rise
    higher; one peaking later is held to the usual bar."""
    from mpt_edge.spotting.spotter import ApexSpotter, SpotterConfig

    spotter = ApexSpotter(SpotterConfig(mask_eyes=True, blink_peak_ratio=2.8))
    spotter.behaviour.blinks.append(200)
    assert spotter._peak_bar(195, 203) == 2.8 and spotter._peak_bar(195, 204) == 2.8
    assert spotter._peak_bar(200, 205) == 1.8
    default = ApexSpotter(SpotterConfig(mask_eyes=True))
    default.behaviour.blinks.append(200)
    assert default._peak_bar(195, 201) == 1.8


def test_a_talking_spell_shorter_than_a_second_is_not_reported():
    from mpt_edge.spotting.behaviour import BehaviourTracker
    from mpt_edge.spotting.spotter import SpotterConfig

    tracker = BehaviourTracker(SpotterConfig())
    for t in range(200):  # the recogniser on for 0.6 s (after a blink, say), then for 2 s
        tracker.update(t, mouth=0.0, eyes=0.0, limit=1.0, talking=10 <= t < 28 or 100 <= t < 160)
    tracker.close()
    assert [(s.kind, s.onset, s.offset) for s in tracker.take()] == [("talking", 100, 159)]
    assert SpotterConfig().for_fps(60.0).talking_min_frames == 60  # a duration: scaled with the frame rate


def test_a_macro_expression_whose_apex_is_far_from_its_onset_is_the_heads_move():
    """A quick turn or nod leaves the registered crop off while it lasts and the face "comes back" when the tracker
    has caught up: an MaE whose apex the tracker puts over ``macro_move_px`` from its onset is the head's move,
    though no alignment explains it (a real expression at the mouth, here). MEs, and MaEs of a still head, stay."""
    import cv2

    from mpt_edge.spotting.spotter import Spot, SpotterConfig, face_signal, motion_energy
    from mpt_edge.stream.pipeline import Pipeline, PipelineConfig

    onset = _textured_face()
    apex = onset.copy()
    x, y = _canonical("mouth", 224)
    apex[y - 12 : y + 12, x - 30 : x + 30] = cv2.GaussianBlur(apex[y - 12 : y + 12, x - 30 : x + 30], (0, 0), 4)
    spotter = SpotterConfig(mask_eyes=True)
    still, moved = np.zeros(2), np.array([2.4, 1.2])  # tracked offsets (crop px): 2.7 px apart
    peak = motion_energy(face_signal(apex, spotter.size), face_signal(onset, spotter.size), spotter)

    def head(kind: str, offset: np.ndarray, rule: float | None = 2.0) -> bool:
        pipeline = Pipeline(None, None, PipelineConfig(face_detector="none", spotter=spotter, macro_move_px=rule))
        return pipeline._is_head_movement(Spot(10, 40, 90, peak, peak / 5, kind), still, offset, onset, apex)

    assert head("MaE", moved) and not head("MaE", still) and not head("MaE", moved, rule=None)
    assert not head("ME", moved)  # an ME's move is judged by the alignment as before


def test_a_lip_corners_me_while_the_face_talks_is_found_beyond_the_lips_centre():
    """Talking takes the mouth out of the energy; ``talking_corners`` keeps the corners' motion beyond what the
    syllable moves at the lips' centre — an AU12/14/15 mid-sentence — and marks its peak as the corner's."""
    from mpt_edge.spotting.spotter import ApexSpotter, SpotterConfig

    event = (150, 156)  # mid-sentence
    stream, _ = _talking_face(230, corner_event=event)
    found: dict[str, list] = {}
    for name, corners in (("corners", SpotterConfig().talking_corners), ("mouth out", None)):
        spotter = ApexSpotter(SpotterConfig(mask_eyes=True, learned_talking=False, talking_corners=corners))
        found[name] = []
        for t, image in enumerate(stream):
            spot = spotter.update_signal(t, image)
            if spot is not None:
                found[name].append((spot, spotter.peak_region.get(spot.apex)))
            if t == event[0]:
                assert spotter.talking, name  # the syllable rule took the face for talking
    at_event = {name: [(s, r) for s, r in spots if event[0] <= s.apex < event[1] + 2] for name, spots in found.items()}
    assert at_event["mouth out"] == []
    assert len(at_event["corners"]) == 1 and at_event["corners"][0][1] == "corner", found["corners"]
    assert len(found["corners"]) <= len(found["mouth out"]) + 1  # the syllables themselves stay explained


def test_a_crop_re_take_is_no_motion_to_the_talking_recogniser():
    """The stream pipeline re-takes the crop when it follows the head, and the face's sharp edges shift by a
    fraction of a pixel in the registered crops: given that shift, the recogniser compares each pair in one
    registration and a still face stays still (the 720p drawn test face read as talking 70 % of the time)."""
    import cv2

    from mpt_edge.spotting.talking import TalkingFeatures

    base = np.clip(
        cv2.GaussianBlur(np.random.default_rng(0).random((96, 96)).astype(np.float32), (0, 0), 1.0) * 4 - 1.5, 0, 1
    )
    offsets = [0.3 * ((t // 3) % 2) for t in range(60)]  # the crop re-taken every 3 frames, 0.3 px back and forth
    motion = {}
    for told in (True, False):
        features = TalkingFeatures()
        for t, offset in enumerate(offsets):
            small = cv2.warpAffine(
                base, np.float32([[1, 0, -offset], [0, 1, 0]]), (96, 96), borderMode=cv2.BORDER_REPLICATE
            )
            moved = offset - offsets[t - 1] if t else 0.0
            features.update(t, small, np.array([-moved, 0.0]) if told and moved else None)
        assert features.average is not None
        motion[told] = float(features.average.mean())
    assert motion[True] < 0.4 * motion[False], motion  # most of it: a bilinear re-take also smooths the edges
