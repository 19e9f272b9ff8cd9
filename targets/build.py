"""``mpt-edge build SOURCE --target T --out DIR``: checkpoint or ONNX -> export -> calibrate -> target
build -> validated bundle. Intermediate results live in a work folder and are reused when their
inputs' sha256 match (a changed checkpoint is re-exported, never silently reused)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mpt_edge.backends import Backend, TensorRtOptions, options_of
from mpt_edge.bundle import BundleFiles, pack_bundle, sha256_file, write_bundle
from mpt_edge.engines import open_engine
from mpt_edge.errors import InputError, MptEdgeError
from mpt_edge.faces import CANONICAL_LAYOUT
from mpt_edge.onnx_meta import input_shapes, read_onnx_meta
from targets import cache
from targets.profile import TargetProfile

Log = Callable[[str], None]
SCRIPTS = Path(__file__).parent / "scripts"


def ensure_onnx(source: Path, work: Path, log: Log, dynamic_batch: bool = False) -> Path:
    """The FP32 ONNX for ``source`` (a .pt is exported once per checkpoint hash); ``dynamic_batch``:
    with a dynamic batch dimension (a server batches requests)."""
    if source.suffix == ".onnx":
        meta = read_onnx_meta(source)  # one clear error for a file mpt-edge did not export
        if dynamic_batch and not meta.get("dynamic_batch"):
            raise InputError(
                f"{source} has a fixed batch of 1; a server target batches requests: pass the "
                "checkpoint, or export with `mpt-edge export --dynamic-batch`"
            )
        return source
    if source.suffix != ".pt":
        raise InputError(f"{source}: pass a checkpoint (.pt from `mpt-edge train`) or an exported model (.onnx)")
    if not source.is_file():
        raise InputError(f"checkpoint {source} does not exist")
    onnx_path = work / ("model-dynamic-batch.onnx" if dynamic_batch else "model.onnx")  # server targets batch requests
    key = {"checkpoint_sha256": sha256_file(source), "dynamic_batch": dynamic_batch}
    if cache.reusable(onnx_path, key, [], log):
        log(f"reusing {onnx_path} (exported from this checkpoint, unaltered)")
        return onnx_path
    from train.export import export_onnx

    cache.forget(onnx_path)
    summary = export_onnx(source, onnx_path, dynamic_batch=dynamic_batch)
    cache.store(onnx_path, key, [])
    log(f"exported {onnx_path} (max |dlogit| vs PyTorch {summary['max_abs_logit_difference']:.1e})")
    return onnx_path


def ensure_int8(
    onnx_path: Path,
    backend: str,
    work: Path,
    load_pairs: Callable[[], Any],
    size: int,
    log: Log,
    data_key: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The INT8 model of ``backend`` and its report, reused only when made from this FP32 model, this
    calibration data (``data_key``) and size, and unaltered since (:mod:`targets.cache`)."""
    from calibrate.backends import output_path

    out = work / (f"int8-{backend}" if onnx_path.stem == "model" else f"int8-{backend}-{onnx_path.stem}")
    report_path = out / f"report_{backend}.json"
    model = output_path(out, backend)
    companions = [report_path] + ([model.with_suffix(".bin")] if model.suffix == ".xml" else [])
    key = {"model_sha256": sha256_file(onnx_path), "backend": backend, "calibration_size": size, "data": data_key or {}}
    if cache.reusable(model, key, companions, log):
        log(f"reusing {model} (calibrated from this model and data, unaltered)")
        return model, json.loads(report_path.read_text())
    from calibrate.run import calibrate_model

    cache.forget(model)
    if out.is_dir():
        shutil.rmtree(out)  # nothing of a stale or half-made calibration survives into the new one
    report = calibrate_model(onnx_path, backend, out, load_pairs(), size, log=log)  # writes report_path itself
    cache.store(model, key, companions)
    return model, report


def _openvino_fp32_ir(onnx_path: Path, work: Path) -> Path:
    import openvino as ov

    target = work / "openvino-fp32" / "model.xml"
    target.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.convert_model(str(onnx_path)), str(target), compress_to_fp16=False)
    return target


FileLayout = tuple[dict[str, Path], dict[str, str]]  # (bundle name -> source file, role -> bundle name)


def _openvino_files(profile: TargetProfile, onnx_path: Path, int8: Path | None, work: Path, log: Log) -> FileLayout:
    fp32 = _openvino_fp32_ir(onnx_path, work)
    files = {fp32.name: fp32, fp32.with_suffix(".bin").name: fp32.with_suffix(".bin")}
    if profile.precision != "int8":
        return files, {"model": fp32.name}
    assert int8 is not None
    files.update({int8.name: int8, int8.with_suffix(".bin").name: int8.with_suffix(".bin")})
    return files, {"model": int8.name, "model_fp32": fp32.name}


def _onnxruntime_files(profile: TargetProfile, onnx_path: Path, int8: Path | None, work: Path, log: Log) -> FileLayout:
    if profile.precision != "int8":
        return {onnx_path.name: onnx_path}, {"model": onnx_path.name}
    assert int8 is not None
    return {int8.name: int8, onnx_path.name: onnx_path}, {"model": int8.name, "model_fp32": onnx_path.name}


def _tensorrt_files(profile: TargetProfile, onnx_path: Path, int8: Path | None, work: Path, log: Log) -> FileLayout:
    assert int8 is not None
    files = {
        "model_int8_qdq.onnx": int8,
        "build_engine.sh": work / "build_engine.sh",
        "build_engine.py": SCRIPTS / "build_engine.py",
    }
    _write_build_script(profile, work / "build_engine.sh")
    roles = {"model": "model_int8_qdq.onnx", "engine": "model.engine"}
    engine = _maybe_build_engine_here(int8, profile, work, log)
    if engine is not None:
        files.update({"model.engine": engine, "engine.json": engine.parent / "engine.json"})
    return files, roles


# What a bundle of each backend holds, one entry per backend (Triton's model repository is laid out by
# targets/triton.py). INT8 CPU bundles carry the FP32 model too: the device keeps whichever runs faster on
# its CPU (mpt_edge.precision), since INT8 is slower than FP32 on CPUs without VNNI/AMX.
BUNDLE_FILES: dict[Backend, Callable[[TargetProfile, Path, Path | None, Path, Log], FileLayout]] = {
    Backend.OPENVINO: _openvino_files,
    Backend.ONNXRUNTIME: _onnxruntime_files,
    Backend.TENSORRT: _tensorrt_files,
}


def _files_for(profile: TargetProfile, onnx_path: Path, int8: Path | None, work: Path, log: Log) -> FileLayout:
    """(bundle name -> source file, role -> bundle name) for one target."""
    layout = BUNDLE_FILES.get(profile.backend)
    if layout is None:
        raise MptEdgeError(f"target {profile.name}: unknown backend {profile.backend}")
    return layout(profile, onnx_path, int8, work, log)


def _write_build_script(profile: TargetProfile, path: Path) -> None:
    options = options_of(TensorRtOptions, profile.options)
    fallback = " --allowGPUFallback" if options.gpu_fallback else ""
    dla = f" --useDLACore={options.dla_core}{fallback}" if options.dla_core is not None else ""
    text = (SCRIPTS / "build_engine.sh.in").read_text()
    text = text.replace("@TARGET@", profile.name).replace("@WORKSPACE_MB@", str(options.workspace_mb))
    text = text.replace("@OPT_LEVEL@", str(options.builder_optimization_level)).replace("@DLA@", dla)
    path.write_text(text)
    path.chmod(0o755)


def _maybe_build_engine_here(qdq: Path, profile: TargetProfile, work: Path, log: Log) -> Path | None:
    """With TensorRT and an NVIDIA GPU on this machine: build the engine now and check it vs ONNX Runtime."""
    from importlib.util import find_spec

    if find_spec("tensorrt") is None or shutil.which("nvidia-smi") is None:
        log(
            f"{profile.name}: no TensorRT + NVIDIA GPU here; the bundle carries the Q/DQ ONNX and build_engine.sh/.py, "
            "and the runtime builds the engine on the device's first start"
        )
        return None
    from mpt_edge.engines.tensorrt import ENGINE, TensorRtEngine, build_engine

    folder = work / f"engine-{profile.name}"
    folder.mkdir(parents=True, exist_ok=True)
    build_engine(qdq, folder / ENGINE, profile.options, log)
    engine, reference = TensorRtEngine(folder / ENGINE), open_engine(qdq, optimize=False)
    rng = np.random.default_rng(0)
    feeds = {name: rng.standard_normal(tuple(engine.host[name].shape), dtype=np.float32) for name in engine.input_names}
    difference = float(np.abs(engine.infer(feeds) - reference.infer(feeds)).max())
    log(f"TensorRT engine vs ONNX Runtime (Q/DQ): max |dlogit| {difference:.3f}")
    return folder / ENGINE


def validate(
    model_file: Path, fp32_onnx: Path, feeds: list[dict[str, np.ndarray]], optimize: bool = True
) -> dict[str, Any]:
    """The bundle's own model against the FP32 export on held-out inputs (``optimize=False``: the
    TensorRT model, run as written)."""
    engine, reference = open_engine(model_file, optimize=optimize), open_engine(fp32_onnx)
    ours = np.concatenate([engine.infer(f) for f in feeds])
    theirs = np.concatenate([reference.infer(f) for f in feeds])
    return {
        "clips": len(feeds),
        "agreement_with_fp32": float(np.mean(ours.argmax(1) == theirs.argmax(1))),
        "max_abs_logit_difference": float(np.abs(ours - theirs).max()),
    }


def build_bundle(
    source: Path,
    profile: TargetProfile,
    out: Path,
    work: Path,
    load_pairs: Callable[[dict[str, Any]], Any],
    calibration_size: int = 300,
    tar: bool = False,
    log: Log = print,
    data_key: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> BundleFiles:
    """``data_key``: what names the calibration data (data set, folder, detector), part of the INT8 cache's key;
    ``overwrite``: replace a non-empty ``out`` once the new bundle is complete."""
    if out.exists() and not out.is_dir():
        raise InputError(
            f"--out {out} is an existing file, not a folder; choose a folder for the bundle (it is created if missing)"
        )
    if out.exists() and any(out.iterdir()) and not overwrite:  # checked first: no export/calibration work for nothing
        raise InputError(
            f"{out} already exists and is not empty; choose another --out, or pass --overwrite to replace it"
        )
    missing = profile.missing()
    if missing:
        raise MptEdgeError(
            f"target {profile.name} needs {', '.join(missing)} on this machine: pip install 'mpt-edge[train,openvino]'"
        )
    created = not work.exists()
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _build_in(source, profile, out, work, load_pairs, calibration_size, tar, log, data_key, overwrite)
    except BaseException:
        if created and work.is_dir() and not any(work.iterdir()):
            work.rmdir()  # a build that failed before caching anything leaves no empty work folder behind
        raise


def _build_in(
    source: Path,
    profile: TargetProfile,
    out: Path,
    work: Path,
    load_pairs: Callable[[dict[str, Any]], Any],
    calibration_size: int,
    tar: bool,
    log: Log,
    data_key: dict[str, Any] | None,
    overwrite: bool,
) -> BundleFiles:
    server = profile.backend == Backend.TRITON
    onnx_path = ensure_onnx(Path(source), work, log, dynamic_batch=server)
    meta = read_onnx_meta(onnx_path)
    report: dict[str, Any] = {}
    int8 = None
    if profile.calibration:
        int8, report = ensure_int8(
            onnx_path, profile.calibration, work, lambda: load_pairs(meta), calibration_size, log, data_key
        )
    inputs = input_shapes(meta)  # the prompt variant sets the feature count
    outputs = {"logits": [1, len(meta["class_names"])]}
    extra: dict[str, Any] = {}
    if server:
        assert int8 is not None
        from targets.triton import repository_files

        files, roles, extra["triton"] = repository_files(profile, onnx_path, int8, inputs, outputs, work)
    else:
        files, roles = _files_for(profile, onnx_path, int8, work, log)
    check_model = files[roles["model"]]
    rng = np.random.default_rng(0)
    probe = [
        {name: rng.standard_normal(tuple(shape), dtype=np.float32) for name, shape in inputs.items()} for _ in range(4)
    ]
    # a strongly typed model (jetson-*, triton-gpu carry TensorRT's) is checked op by op
    as_written = any(Backend(b).spec.checked_as_written for b in (profile.backend, profile.calibration) if b)
    check = validate(check_model, onnx_path, probe, optimize=not as_written)
    manifest = {
        "target": profile.to_dict(),
        "backend": profile.backend,
        "precision": profile.precision,
        "model_config": meta["model_config"],
        "motion_config": meta["motion_config"],
        "class_names": meta["class_names"],
        "inputs": inputs,
        "outputs": outputs,
        "roles": roles,
        **extra,
        # how the training faces were aligned (mpt_edge.faces.align): the device aligns the same way
        "face": {"detector": (meta.get("training_data") or {}).get("detector"), "layout": CANONICAL_LAYOUT},
        "precisions": {profile.precision: "model", **({"fp32": "model_fp32"} if "model_fp32" in roles else {})},
        "source": {
            "file": Path(source).name,
            "sha256": sha256_file(Path(source)),
            "fp32_onnx_sha256": sha256_file(onnx_path),
        },
        "validation": {
            "held_out": {
                k: report[k] for k in ("fp32", "int8", "agreement", "held_out_clips", "evaluation_split") if k in report
            },
            "random_inputs_vs_fp32": check,
        },
    }
    bundle = write_bundle(out, files, manifest, overwrite)
    if tar:
        packed = pack_bundle(out, out.with_suffix(".tar"))
        log(f"packed {packed}")
    return bundle
