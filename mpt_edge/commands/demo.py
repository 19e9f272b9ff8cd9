"""``mpt-edge demo``: the whole chain on the built-in synthetic set — train, build, stream a video, compare the events with the truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from mpt_edge.commands.common import user_errors


@user_errors
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Folder for the run, the bundle and the demo video (reused if present)."),
    target: str = typer.Option("openvino-cpu", "--target", "-t", help="Bundle target to build and run."),
    epochs: int = typer.Option(3, "--epochs", help="Training epochs (3: on the easy set held-out UF1 is 1.000 from epoch 1 on; see README)."),
    events: int = typer.Option(12, "--events", help="Micro-expressions in the demo video."),
    backbone_weights: Optional[Path] = typer.Option(None, "--backbone-weights", help="Pretrained backbone weights (timm / Hugging Face ViT or DINOv2); the model config is the one that fits them."),
    drawn_face: bool = typer.Option(False, "--drawn-face", help="The drawn synthetic face (the demo before real faces), not a real photograph animated by action units."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """The whole chain: train -> build -> stream a video of a real face (an animated photograph) -> events."""
    if not drawn_face:
        result = run_realface_demo(out=out, target=target, epochs=epochs, as_json=as_json, backbone_weights=backbone_weights)
        if as_json:
            typer.echo(json.dumps(result))
        return
    result = run_demo(out=out, target=target, epochs=epochs, events=events, as_json=as_json, backbone_weights=backbone_weights)
    if as_json:
        typer.echo(json.dumps(result))


def run_demo(*, out: Path, target: str, epochs: int, events: int, as_json: bool, backbone_weights: Optional[Path] = None) -> dict[str, Any]:
    """The whole chain on the embedded default: synthetic set -> train mpt-tiny (or, with
    ``backbone_weights``, the config those weights fit) -> bundle -> a synthetic video with known
    micro-expressions streamed through `run` -> events compared with the truth."""
    import io
    import json as json_lib

    from rich.console import Console

    from mpt_edge.commands.train import run_train
    from mpt_edge.stream.run import run_stream
    from train.data.pairs import load_pairs
    from train.data.sources import open_dataset
    from train.data.synthetic_folder import SyntheticSpec
    from targets import get_target
    from targets.build import build_bundle
    from train.data.synthetic_video import plan_events, render_stream, write_video
    from train.fit import TrainOptions
    from train.runner import RunSpec

    console = Console(stderr=True)
    out.mkdir(parents=True, exist_ok=True)
    run_dir, bundle_dir, video = out / "train", out / "bundle", out / "demo.avi"
    spec = RunSpec(options=TrainOptions(epochs=epochs))
    if backbone_weights is not None:
        from train.weights import config_for_weights

        spec = RunSpec(model=config_for_weights(backbone_weights), backbone_weights=str(backbone_weights), options=TrainOptions(epochs=epochs))
    console.print(f"[bold]1/4 train {spec.model} on the synthetic set" + (f" (backbone {backbone_weights})" if backbone_weights else ""))
    if not (run_dir / "best.pt").is_file():
        run_train(dataset="synthetic", root=None, skip_invalid=False, synthetic=SyntheticSpec(), spec=spec,
                      out=run_dir, resume=(run_dir / "run.json").is_file(), device_name="auto", as_json=False)
    console.print(f"[bold]2/4 build the {target} bundle")
    if not (bundle_dir / "manifest.json").is_file():
        def pairs(meta):
            face_size = int(meta["motion_config"]["face_size"])
            source = open_dataset("synthetic", None, None)
            return load_pairs(source.records, face_size)

        build_bundle(run_dir / "best.pt", get_target(target), bundle_dir, out / "work", pairs, log=console.print)
    console.print("[bold]3/4 render a synthetic video with known micro-expressions (a drawn face, not a person)")
    truth = plan_events(30 + 30 * events + 30, [k % 3 for k in range(events)])
    write_video(video, render_stream(truth, 30 + 30 * events + 30))
    console.print(f"[bold]4/4 stream it through `mpt-edge run --bundle {bundle_dir} --source {video}`")
    lines = io.StringIO()
    summary = run_stream(bundle_dir, str(video), lines, log=console.print)
    events = [json_lib.loads(line) for line in lines.getvalue().splitlines()]
    found = [e for e in events if e.get("type", "ME") == "ME"]  # the video holds micro-expressions only
    macro = len(events) - len(found)
    names = ["negative", "positive", "surprise"]
    matched, right = 0, 0
    for event in events:
        if not as_json:
            print(json_lib.dumps(event))
    for t in truth:
        hits = [e for e in found if abs(e["frame_apex"] - t.apex) <= 3]
        if hits:
            matched += 1
            right += hits[0]["label"] == names[t.label]
    result = {"bundle": str(bundle_dir), "video": str(video), "true_events": len(truth), "found": matched, "labels_right": right,
              "false_events": len(found) - matched, "macro_events": macro, "stream": summary}
    console.print(f"found {matched}/{len(truth)} micro-expressions (apex within 3 frames), {right} with the right label, "
                  f"{len(found) - matched} false" + (f", {macro} macro-expression(s)" if macro else "") + f"; {summary['fps']} fps, apex->event p50 "
                  f"{(summary['latency_ms_apex_to_event'] or {}).get('p50')} ms")
    console.print(f"live view in a browser: mpt-edge run --bundle {bundle_dir} --source {video} --serve 127.0.0.1:8080  (open http://127.0.0.1:8080/)")
    result["live_view_command"] = f"mpt-edge run --bundle {bundle_dir} --source {video} --serve 127.0.0.1:8080"
    return result


# The real-face demo: small, so the first command stays short (README "First run").
DEMO_REALFACE = {"subjects": 8, "clips_per_class": 1, "classes": 3}
DEMO_VIDEO_SECONDS = 40.0
DEMO_PROMPTS = "flow"


def run_realface_demo(*, out: Path, target: str, epochs: int, as_json: bool, backbone_weights: Optional[Path] = None) -> dict[str, Any]:
    """Train on the real-face preset (8 people, the MEGC composite's 3 classes), build, then stream a 40 s
    video of another photograph's person (micro- and macro-expressions, blinks, talking, head moves) through
    `run`, and compare the events with the truth the video was made with."""
    import io
    import json as json_lib

    from rich.console import Console

    from mpt_edge.commands.train import run_train
    from mpt_edge.stream.run import run_stream
    from targets import get_target
    from targets.build import build_bundle
    from train.data.pairs import load_pairs
    from train.data.realface.classes import TO_MEGC
    from train.data.realface.long_videos import ensure_long_videos
    from train.data.sources import open_dataset
    from train.data.synthetic_folder import SyntheticSpec
    from train.fit import TrainOptions
    from train.runner import RunSpec

    console = Console(stderr=True)
    out.mkdir(parents=True, exist_ok=True)
    run_dir, bundle_dir = out / "train-realface", out / "bundle-realface"
    synthetic = SyntheticSpec(preset="realface", **DEMO_REALFACE)
    # flow prompts: on real faces they lifted the model from 0.43-0.54 to 0.76 UF1 (README "Real faces")
    spec = RunSpec(prompt_variant=DEMO_PROMPTS, options=TrainOptions(epochs=epochs))
    if backbone_weights is not None:
        from train.weights import config_for_weights

        spec = RunSpec(model=config_for_weights(backbone_weights), backbone_weights=str(backbone_weights), prompt_variant=DEMO_PROMPTS,
                       options=TrainOptions(epochs=epochs))
    console.print(f"[bold]1/4 train {spec.model} on real faces (photographs animated by facial action units, {synthetic.subjects} people)")
    if not (run_dir / "best.pt").is_file():
        run_train(dataset="synthetic", root=None, skip_invalid=False, synthetic=synthetic, spec=spec,
                  out=run_dir, resume=(run_dir / "run.json").is_file(), device_name="auto", as_json=False)
    console.print(f"[bold]2/4 build the {target} bundle")
    if not (bundle_dir / "manifest.json").is_file():
        def pairs(meta):
            face_size = int(meta["motion_config"]["face_size"])
            return load_pairs(open_dataset("synthetic", None, synthetic, face_size=face_size).records, face_size)

        build_bundle(run_dir / "best.pt", get_target(target), bundle_dir, out / "work-realface", pairs, log=console.print,
                     data_key={"dataset": "synthetic", "realface": DEMO_REALFACE})
    console.print(f"[bold]3/4 render {DEMO_VIDEO_SECONDS:g} s of a real face moving (micro- and macro-expressions, blinks, talking, head moves)")
    video_root = ensure_long_videos(out / "video-realface", subjects=1, seconds=DEMO_VIDEO_SECONDS, seed=7)
    folder = next((video_root / "rawpic").glob("s*/*"))
    plan = json_lib.loads((video_root / "realface_long.json").read_text())["videos"][0]
    console.print(f"[bold]4/4 stream it through `mpt-edge run --bundle {bundle_dir} --source {folder}`")
    lines = io.StringIO()
    summary = run_stream(bundle_dir, str(folder), lines, log=console.print, fps=30.0)
    events = [json_lib.loads(line) for line in lines.getvalue().splitlines()]
    if not as_json:
        for event in events:
            print(json_lib.dumps(event))
    truth = [e for e in plan["expressions"] if e["kind"] == "ME"]
    found, right = 0, 0
    for t in truth:
        hits = [e for e in events if e["type"] == "ME" and abs(e["frame_apex"] - t["apex"]) <= 3]
        if hits:
            found += 1
            right += hits[0].get("label") == TO_MEGC[t["emotion"]]
    false_me = sum(e["type"] == "ME" for e in events) - found
    result = {"bundle": str(bundle_dir), "video": str(folder), "person": plan["identity"], "true_micro_expressions": len(truth), "found": found,
              "labels_right": right, "labelled": sum(TO_MEGC[t["emotion"]] is not None for t in truth), "false_micro_expressions": false_me,
              "macro_expressions": {"true": sum(e["kind"] == "MaE" for e in plan["expressions"]), "reported": sum(e["type"] == "MaE" for e in events)},
              "stream": summary}
    console.print(f"{plan['identity']}: found {found}/{len(truth)} micro-expressions (apex within 3 frames), {right} with the right label, "
                  f"{false_me} false (blinks, talking and head moves are in the video too); macro-expressions: "
                  f"{result['macro_expressions']['reported']} reported, {result['macro_expressions']['true']} true; {summary['fps']} fps")
    console.print(f"the drawn-face demo: mpt-edge demo --drawn-face --out {out}")
    command = f"mpt-edge run --bundle {bundle_dir} --source {folder} --serve 127.0.0.1:8080"
    console.print(f"live view in a browser: {command}  (open http://127.0.0.1:8080/)")
    result["live_view_command"] = command
    return result
