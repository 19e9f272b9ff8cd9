"""The whole chain in one call (``mpt-edge demo``): train on a built-in set, build a bundle, render a video
whose expressions are known, stream it through the same loop as ``mpt-edge run`` and compare the events
with the truth. Two faces: a real photograph animated by facial action units (the default) or the drawn
face the project started with. Each step is skipped when its output is already in ``out``."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpt_edge.stream.events import Event
from mpt_edge.stream.summary import StreamSummary
from train.options import DataSpec, RunSpec, TrainOptions

if TYPE_CHECKING:
    from rich.progress import Progress

    from train.data.synthetic_folder import SyntheticSpec

Log = Callable[[str], None]

# The real-face demo: small, so the first command stays short (docs: getting started).
DEMO_REALFACE = {"subjects": 8, "clips_per_class": 1, "classes": 3}
DEMO_VIDEO_SECONDS = 40.0
APEX_TOLERANCE = 3  # frames: a found event's apex this close to the true one counts


@dataclass(frozen=True)
class DemoOptions:
    out: Path = Path("runs/demo")
    target: str = "openvino-cpu"
    epochs: int = TrainOptions.epochs
    events: int = 12  # micro-expressions in the drawn-face video
    backbone_weights: Path | None = None
    drawn_face: bool = False


@dataclass(frozen=True)
class DemoResult:
    """What the demo found against the truth its video was made with."""

    bundle: Path
    video: Path
    person: str | None  # None: the drawn face
    true_micro_expressions: int
    found: int
    labels_right: int
    labelled: int  # true MEs whose class the model's classes name
    false_micro_expressions: int
    macro_expressions: Mapping[str, int]
    stream: StreamSummary
    events: tuple[Event, ...] = field(default=(), repr=False)

    @property
    def live_view_command(self) -> str:
        return f"mpt-edge run --bundle {self.bundle} --source {self.video} --serve 127.0.0.1:8080"

    def as_dict(self) -> dict[str, Any]:
        """The JSON ``mpt-edge demo --json`` prints."""
        data: dict[str, Any] = {
            "bundle": str(self.bundle),
            "video": str(self.video),
            "person": self.person,
            "true_micro_expressions": self.true_micro_expressions,
            "found": self.found,
            "labels_right": self.labels_right,
            "labelled": self.labelled,
            "false_micro_expressions": self.false_micro_expressions,
            "macro_expressions": dict(self.macro_expressions),
            "stream": self.stream.as_dict(),
            "live_view_command": self.live_view_command,
        }
        if self.person is None:  # the drawn-face demo's names before 0.2.0, kept for scripts that read them
            data.update(
                true_events=self.true_micro_expressions,
                false_events=self.false_micro_expressions,
                macro_events=self.macro_expressions["reported"],
            )
        return data


def demo(
    options: DemoOptions = DemoOptions(), log: Log = lambda _: None, progress: Progress | None = None
) -> DemoResult:
    """Train, build, stream and score (see the module's docstring); the steps say what they do on ``log``,
    training shows its bars on ``progress``."""
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if options.drawn_face else "-realface"
    synthetic = _synthetic(options)
    spec = _run_spec(options)
    run_dir, bundle_dir = out / f"train{suffix}", out / f"bundle{suffix}"
    what = (
        "on the synthetic set"
        if options.drawn_face
        else f"on real faces (photographs animated by facial action units, {synthetic.subjects} people)"
    )
    log(
        f"[bold]1/4 train {spec.model} {what}"
        + (f" (backbone {options.backbone_weights})" if options.backbone_weights else "")
    )
    data = DataSpec(synthetic=synthetic)
    if not (run_dir / "best.pt").is_file():
        from train.api import train

        train(spec, data, out=run_dir, resume=(run_dir / "run.json").is_file(), progress=progress, log=log)
    log(f"[bold]2/4 build the {options.target} bundle")
    if not (bundle_dir / "manifest.json").is_file():
        from targets.api import build

        build(run_dir / "best.pt", options.target, bundle_dir, data, work=out / f"work{suffix}", log=log)
    if options.drawn_face:
        return _drawn_face(options, bundle_dir, log)
    return _real_face(options, bundle_dir, log)


def _synthetic(options: DemoOptions) -> SyntheticSpec:
    from train.data.synthetic_folder import SyntheticSpec

    return SyntheticSpec() if options.drawn_face else SyntheticSpec(preset="realface", **DEMO_REALFACE)


def _run_spec(options: DemoOptions) -> RunSpec:
    """mpt-tiny, or the config the given backbone weights fit; the library's prompts (strain: docs, evidence)."""
    train_options = TrainOptions(epochs=options.epochs)
    if options.backbone_weights is None:
        return RunSpec(options=train_options)
    from train.weights import config_for_weights

    weights = options.backbone_weights
    return RunSpec(model=config_for_weights(weights), backbone_weights=str(weights), options=train_options)


def _stream(bundle_dir: Path, source: Path, log: Log, fps: float | None = None) -> tuple[StreamSummary, list[Event]]:
    from mpt_edge.stream.run import RunOptions, run_stream

    events: list[Event] = []
    summary = run_stream(bundle_dir, str(source), io.StringIO(), RunOptions(fps=fps), log=log, on_event=events.append)
    return summary, events


def _match(truth: list[tuple[int, str | None]], events: list[Event]) -> tuple[int, int, int]:
    """(true MEs found, of them with the true class, false MEs): a true ME (apex, class) is found by the first
    ME event whose apex is within APEX_TOLERANCE frames."""
    spotted = [e for e in events if e.type == "ME"]
    found, right = 0, 0
    for apex, label in truth:
        hits = [e for e in spotted if abs(e.frame_apex - apex) <= APEX_TOLERANCE]
        if hits:
            found += 1
            right += hits[0].label == label
    return found, right, len(spotted) - found


def _drawn_face(options: DemoOptions, bundle_dir: Path, log: Log) -> DemoResult:
    from train.data.synthetic_video import plan_events, render_stream, write_video

    video = options.out / "demo.avi"
    log("[bold]3/4 render a synthetic video with known micro-expressions (a drawn face, not a person)")
    frames = 30 + 30 * options.events + 30
    truth = plan_events(frames, [k % 3 for k in range(options.events)])
    write_video(video, render_stream(truth, frames))
    log(f"[bold]4/4 stream it through `mpt-edge run --bundle {bundle_dir} --source {video}`")
    summary, events = _stream(bundle_dir, video, log)
    names = ["negative", "positive", "surprise"]
    matched, right, false = _match([(t.apex, names[t.label]) for t in truth], events)
    return DemoResult(
        bundle=bundle_dir,
        video=video,
        person=None,
        true_micro_expressions=len(truth),
        found=matched,
        labels_right=right,
        labelled=len(truth),
        false_micro_expressions=false,
        macro_expressions={"true": 0, "reported": sum(e.type == "MaE" for e in events)},
        stream=summary,
        events=tuple(events),
    )


def _real_face(options: DemoOptions, bundle_dir: Path, log: Log) -> DemoResult:
    from train.data.realface.classes import TO_MEGC
    from train.data.realface.long_videos import ensure_long_videos

    log(
        f"[bold]3/4 render {DEMO_VIDEO_SECONDS:g} s of a real face moving (micro- and "
        "macro-expressions, blinks, talking, head moves)"
    )
    video_root = ensure_long_videos(options.out / "video-realface", subjects=1, seconds=DEMO_VIDEO_SECONDS, seed=7)
    folder = next((video_root / "rawpic").glob("s*/*"))
    plan = json.loads((video_root / "realface_long.json").read_text())["videos"][0]
    log(f"[bold]4/4 stream it through `mpt-edge run --bundle {bundle_dir} --source {folder}`")
    summary, events = _stream(bundle_dir, folder, log, fps=30.0)
    truth = [e for e in plan["expressions"] if e["kind"] == "ME"]
    found, right, false = _match([(t["apex"], TO_MEGC[t["emotion"]]) for t in truth], events)
    return DemoResult(
        bundle=bundle_dir,
        video=folder,
        person=str(plan["identity"]),
        true_micro_expressions=len(truth),
        found=found,
        labels_right=right,
        labelled=sum(TO_MEGC[t["emotion"]] is not None for t in truth),
        false_micro_expressions=false,
        macro_expressions={
            "true": sum(e["kind"] == "MaE" for e in plan["expressions"]),
            "reported": sum(e.type == "MaE" for e in events),
        },
        stream=summary,
        events=tuple(events),
    )
