"""The `mpt-edge` command line: one command per stage (DESIGN §2, §4).

Workstation stages (train/export/calibrate/build) import their torch-side packages lazily inside the
command, so the device install never needs torch. User errors print one line and exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from mpt_edge import __version__
from mpt_edge.commands import eval as eval_command, train as train_command
from mpt_edge.commands.common import DATASET_HELP, EXIT_USER_ERROR, PRECISION, ROOT_HELP, json_only_stdout, user_errors
from mpt_edge.errors import MptEdgeError
from mpt_edge.motion.config import DEFAULT_ALPHA

app = typer.Typer(
    name="mpt-edge",
    help="Micro-expression recognition (Motion Prompt Tuning) from workstation to edge device.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"mpt-edge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", help="Also show third-party libraries' log lines (NNCF, OpenVINO, ...)."),
) -> None:
    """Train -> export -> calibrate -> build -> run."""
    from mpt_edge.verbosity import set_verbose

    set_verbose(verbose)


app.command(name="train")(train_command.train)
app.command(name="eval")(eval_command.eval_)


@app.command()
@user_errors
def prepare(
    dataset: str = typer.Argument(..., help="casme2, samm, smic, casme3 or megc2019."),
    root: Path = typer.Option(..., "--root", help="The data set folder as distributed (coding sheet + frame folders)."),
    out: Path = typer.Option(..., "--out", "-o", help="Cache folder for the aligned onset/apex pairs (resumable)."),
    face_size: int = typer.Option(224, "--face-size", help="Side of the aligned face crop in pixels (the model's input size)."),
    face: str = typer.Option("haar", "--face", help="haar (OpenCV cascades: detect on the onset, align eyes) or none (frames are face crops)."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip clips with annotation/frame problems instead of stopping."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Align and crop every clip's onset/apex pair once, so training never re-decodes frames."""
    from train.cli_train import prepare_command

    summary = prepare_command(dataset=dataset, root=root, out=out, face_size=face_size, face_detector=face, skip_invalid=skip_invalid, as_json=as_json)
    if as_json:
        typer.echo(json.dumps(summary))


@app.command()
@user_errors
def export(
    checkpoint: Path = typer.Argument(..., help="A .pt checkpoint written by `mpt-edge train` (e.g. runs/train/best.pt)."),
    out: Path = typer.Option(Path("model.onnx"), "--out", "-o", help="Where to write the ONNX model."),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="Batch dimension dynamic (default: static batch 1, what edge engines like)."),
    simplify: bool = typer.Option(True, "--simplify/--no-simplify", help="Simplify the graph with onnxslim."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Export a trained checkpoint to ONNX (opset 18), checked against PyTorch before it is written."""
    from train.export import export_onnx

    summary = export_onnx(checkpoint, out, dynamic_batch, simplify)
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        shapes = ", ".join(f"{k} {tuple(v)}" for k, v in summary["inputs"].items())
        typer.echo(f"wrote {out} ({summary['bytes'] / 1e6:.1f} MB, {summary['nodes']} nodes, inputs {shapes}); ONNX Runtime vs PyTorch max |dlogit| {summary['max_abs_logit_difference']:.1e} on {summary['parity_inputs']} real inputs")


@app.command()
@user_errors
def calibrate(
    model: Path = typer.Argument(..., help="FP32 ONNX model from `mpt-edge export`."),
    backend: str = typer.Option("openvino", "--backend", "-b", help="openvino (NNCF -> INT8 IR), tensorrt (Q/DQ INT8 ONNX, explicit quantization), onnxruntime (Q/DQ for ORT CPU)."),
    out: Path = typer.Option(Path("int8"), "--out", "-o", help="Folder for the INT8 model and report_<backend>.json."),
    dataset: str = typer.Option("synthetic", "--dataset", help=DATASET_HELP),
    root: Optional[Path] = typer.Option(None, "--root", help=ROOT_HELP),
    size: int = typer.Option(300, "--size", help="Calibration clips (stratified by class and subject; all if fewer)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the calibration draw."),
    max_drop: Optional[float] = typer.Option(None, "--max-drop", help="openvino: keep sensitive layers in FP32 until held-out UF1 drops at most this much (e.g. 0.01)."),
    face: str = typer.Option("haar", "--face", help="Face alignment for raw real data: haar or none."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip clips with annotation/frame problems instead of stopping."),
    as_json: bool = typer.Option(False, "--json", help="Print the accuracy report as JSON."),
) -> None:
    """Quantize an exported model to INT8 with a calibration set, and report FP32 vs INT8 accuracy."""
    from train.cli_train import calibrate_command

    with json_only_stdout(as_json):
        report = calibrate_command(model=model, backend=backend, out=out, dataset=dataset, root=root, size=size, seed=seed,
                                   max_drop=max_drop, face_detector=face, skip_invalid=skip_invalid, as_json=as_json)
    if as_json:
        typer.echo(json.dumps(report))


@app.command()
@user_errors
def targets(as_json: bool = typer.Option(False, "--json", help="Print the list as JSON.")) -> None:
    """List the build targets, what each needs installed and whether it can be built here."""
    from targets.cli_build import targets_table

    rows = targets_table(as_json)
    if as_json:
        typer.echo(json.dumps(rows))


@app.command()
@user_errors
def build(
    source: Path = typer.Argument(..., help="A checkpoint (.pt from `mpt-edge train`) or an exported model (.onnx)."),
    target: str = typer.Option(..., "--target", "-t", help="jetson-orin, jetson-orin-nano, jetson-orin-dla, openvino-cpu, openvino-cpu-fp32, onnxruntime-cpu, onnxruntime-cpu-int8."),
    out: Path = typer.Option(..., "--out", "-o", help="Bundle folder to create (must not exist or be empty)."),
    dataset: str = typer.Option("synthetic", "--dataset", help="Calibration data for INT8 targets. " + DATASET_HELP),
    root: Optional[Path] = typer.Option(None, "--root", help=ROOT_HELP),
    calibration_size: int = typer.Option(300, "--calibration-size", help="INT8 calibration clips (stratified by class and subject)."),
    work: Optional[Path] = typer.Option(None, "--work", help="Folder for intermediate results, reused when their inputs' hashes match (default: beside --out)."),
    face: str = typer.Option("haar", "--face", help="Face alignment for raw real calibration data: haar or none."),
    tar: bool = typer.Option(False, "--tar", help="Also pack the bundle as OUT.tar."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Export, calibrate and build a deployable bundle for a target."""
    from targets.cli_build import build_command

    with json_only_stdout(as_json):
        summary = build_command(source=source, target=target, out=out, work=work, dataset=dataset, root=root, size=calibration_size, face_detector=face, tar=tar, as_json=as_json)
    if as_json:
        typer.echo(json.dumps(summary))


@app.command()
@user_errors
def bench(
    bundle: Path = typer.Argument(..., help="A bundle folder from `mpt-edge build`."),
    seconds: float = typer.Option(5.0, "--seconds", help="How long to measure."),
    warmup: int = typer.Option(5, "--warmup", help="Untimed inferences first."),
    precision: str = PRECISION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Latency p50/p99 and throughput of a bundle's engine (batch 1); both precisions where it carries two."""
    from targets.cli_build import bench_command

    result = bench_command(bundle_path=bundle, seconds=seconds, warmup=warmup, as_json=as_json, precision=precision)
    if as_json:
        typer.echo(json.dumps(result))


@app.command()
@user_errors
def unpack(
    archive: Path = typer.Argument(..., help="A bundle .tar from `mpt-edge build --tar`."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to unpack into (new or empty)."),
) -> None:
    """Unpack a bundle safely: paths outside OUT, links and files whose hash differs are refused."""
    from mpt_edge.bundle import unpack_bundle

    bundle = unpack_bundle(archive, out)
    typer.echo(f"unpacked {len(bundle.manifest['files'])} verified files to {out} ({bundle.manifest['target']['name']})")


@app.command()
@user_errors
def run(
    bundle: Path = typer.Option(..., "--bundle", "-b", help="A bundle folder from `mpt-edge build`."),
    source: str = typer.Option("0", "--source", "-s", help="Camera index (0), video file, rtsp:// URL, or GStreamer pipeline ('nvarguscamerasrc ! ... ! appsink')."),
    events: Optional[Path] = typer.Option(None, "--events", help="Append events as JSON lines to this file (default: stdout)."),
    show: bool = typer.Option(False, "--show", help="Show the frames with face box and last event in a window."),
    record: Optional[Path] = typer.Option(None, "--record", help="Write the annotated video here (opt-in: faces are biometric data)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Stop after this many frames."),
    detect_every: int = typer.Option(15, "--detect-every", help="Re-detect the face every N frames (the crop is held in between)."),
    face: str = typer.Option("haar", "--face", help="haar, or none when the source already shows an aligned face."),
    precision: str = PRECISION,
    open_timeout: float = typer.Option(10.0, "--open-timeout", min=0.1, help="Seconds a network source may take to open or to deliver a frame before it counts as failed."),
    serve: Optional[str] = typer.Option(None, "--serve", help="Serve a live view (annotated stream, events, health) at HOST:PORT, e.g. 127.0.0.1:8080."),
    serve_token: Optional[str] = typer.Option(None, "--serve-token", help="Token the live view requires (generated and printed once when binding a non-loopback address)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON on stderr at the end."),
) -> None:
    """Stream a camera or video through spotting, magnification, tokenization and the engine; print events."""
    from mpt_edge.stream.pipeline import PipelineConfig
    from mpt_edge.stream.run import run_stream

    handle = open(events, "a", encoding="utf-8") if events else None
    try:
        summary = run_stream(bundle, source, handle, show, record, max_frames, PipelineConfig(detect_every=detect_every, face_detector=face),
                             precision=precision, open_timeout_s=open_timeout, serve=serve, serve_token=serve_token)
    finally:
        if handle:
            handle.close()
    typer.echo(json.dumps(summary) if as_json else _stream_line(summary), err=True)
    if summary["errors"]:
        raise typer.Exit(EXIT_USER_ERROR)


def _stream_line(summary: dict) -> str:
    latency = summary["latency_ms_apex_to_event"]
    return (f"{summary['frames']} frames at {summary['fps']} fps, {summary['events']} events"
            + (f", apex->event p50 {latency['p50']} ms p99 {latency['p99']} ms" if latency else "")
            + f"; dropped {summary['dropped']}, corrupt {summary['corrupt_frames']}, no face {summary['no_face_frames']} frames")


@app.command(name="bench-stream")
@user_errors
def bench_stream(
    bundle: Path = typer.Option(..., "--bundle", "-b", help="A bundle folder from `mpt-edge build`."),
    video: str = typer.Argument(..., help="A video file, replayed as fast as possible."),
    face: str = typer.Option("haar", "--face", help="haar, or none for pre-aligned faces."),
    precision: str = PRECISION,
) -> None:
    """Replay a video through the pipeline as fast as possible; print fps, per-stage time, latency, memory as JSON."""
    import io

    from mpt_edge.stream.pipeline import PipelineConfig
    from mpt_edge.stream.run import require_file_source, run_stream

    require_file_source(video)
    summary = run_stream(bundle, video, io.StringIO(), config=PipelineConfig(face_detector=face), precision=precision)
    typer.echo(json.dumps(summary))


@app.command()
@user_errors
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Folder for the run, the bundle and the demo video (reused if present)."),
    target: str = typer.Option("openvino-cpu", "--target", "-t", help="Bundle target to build and run."),
    epochs: int = typer.Option(12, "--epochs", help="Training epochs."),
    events: int = typer.Option(12, "--events", help="Micro-expressions in the demo video."),
    backbone_weights: Optional[Path] = typer.Option(None, "--backbone-weights", help="Pretrained backbone weights (timm / Hugging Face ViT or DINOv2); the model config is the one that fits them."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """The whole chain on the built-in synthetic set: train -> build -> stream a video -> events."""
    from train.cli_train import demo_command

    result = demo_command(out=out, target=target, epochs=epochs, events=events, as_json=as_json, backbone_weights=backbone_weights)
    if as_json:
        typer.echo(json.dumps(result))


@app.command()
@user_errors
def magnify(
    onset: Path = typer.Argument(..., help="Onset (neutral) frame: an aligned face image."),
    apex: Path = typer.Argument(..., help="Apex frame, same size as the onset."),
    alpha: float = typer.Option(DEFAULT_ALPHA, "--alpha", "-a", help="Magnification factor (>= 0)."),
    out: Path = typer.Option(Path("side_by_side.png"), "--out", "-o", help="Where to write the PNG/JPEG picture."),
    size: Optional[int] = typer.Option(None, "--size", help="Resize both frames to SIZE x SIZE first (e.g. 224, the model's face size)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary (token features included) instead of text."),
) -> None:
    """Write onset | apex | magnified apex | motion heat map, to see what the motion prompts see."""
    import cv2
    import numpy as np

    from mpt_edge.io import atomic_write_bytes, read_image
    from mpt_edge.motion import FEATURE_NAMES, LinearEulerianMagnifier, MotionConfig, gaussian_tokenize
    from mpt_edge.motion.images import check_alpha
    from mpt_edge.motion.visualize import side_by_side

    check_alpha(alpha)
    if size is not None and size < 32:
        raise MptEdgeError(f"--size {size} is too small; use at least 32 (the model uses 224)")
    suffix = out.suffix.lower()
    if suffix not in {".png", ".jpg", ".jpeg", ".bmp"}:
        raise MptEdgeError(f"--out {out}: unsupported picture type {suffix or '(none)'}; use .png or .jpg")
    onset_img, apex_img = read_image(onset), read_image(apex)
    if size is not None:
        onset_img = cv2.resize(onset_img, (size, size), interpolation=cv2.INTER_AREA)
        apex_img = cv2.resize(apex_img, (size, size), interpolation=cv2.INTER_AREA)
    elif onset_img.shape != apex_img.shape:
        raise MptEdgeError(
            f"{onset} is {onset_img.shape[1]}x{onset_img.shape[0]} but {apex} is {apex_img.shape[1]}x{apex_img.shape[0]}; "
            "pass --size 224 to resize both"
        )
    config = MotionConfig(alpha=alpha)
    magnified = LinearEulerianMagnifier(config)(onset_img, apex_img)
    features = gaussian_tokenize(onset_img, magnified, config)
    picture = side_by_side(onset_img, apex_img, magnified, features, config)
    ok, encoded = cv2.imencode(suffix, picture)
    if not ok:
        raise MptEdgeError(f"OpenCV could not encode {out}")
    atomic_write_bytes(out, encoded.tobytes())
    energy = features[:, FEATURE_NAMES.index("mean_abs_diff")]
    strongest = int(np.argmax(energy))
    summary = {
        "out": str(out),
        "alpha": alpha,
        "size": [int(onset_img.shape[1]), int(onset_img.shape[0])],
        "tokens": config.num_tokens,
        "features": list(FEATURE_NAMES),
        "strongest_token": {"index": strongest, "row": strongest // config.token_grid, "col": strongest % config.token_grid},
        "max_flow_px": float(np.max(np.hypot(features[:, 0], features[:, 1]))),
    }
    if as_json:
        summary["token_features"] = np.round(features, 6).tolist()
        typer.echo(json.dumps(summary))
    else:
        typer.echo(
            f"wrote {out}: {config.num_tokens} motion tokens, strongest at row {summary['strongest_token']['row']} "
            f"col {summary['strongest_token']['col']}, max magnified flow {summary['max_flow_px']:.2f} px"
        )


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
