"""The bundle manifest, read and validated in one place: a bundle is closed over the files it lists.

Every check a bundle's ``manifest.json`` must pass before anything in it is used lives here, so the
folder loader and the tar extractor cannot disagree: the JSON is an object; ``schema_version`` is the
integer this mpt-edge reads; the required keys have their types; every file name is a plain relative
path with a sha256; every role (the files an engine opens) is such a path *and* listed in ``files``,
and an OpenVINO ``.xml`` role brings its ``.bin``, listed too. The one exception is the TensorRT
engine, which the device builds itself on its first start (its build is recorded in ``engine.json``
and checked there); it must still be a plain path inside the bundle.

A manifest that fails is one :class:`~mpt_edge.errors.InputError` naming ``where`` (the folder or the
tar the user gave) and the fix: rebuild the bundle.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import PurePosixPath
from typing import Any

from mpt_edge.backends import Backend
from mpt_edge.errors import InputError
from mpt_edge.motion.config import MotionConfig

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
BACKENDS = tuple(b.value for b in Backend)  # mpt_edge.backends: the one table of backends
DEVICE_BUILT_ROLES = {"tensorrt": frozenset({"engine"})}  # built on the device, not shipped
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REQUIRED: dict[str, type] = {
    "backend": str,
    "precision": str,
    "model_config": dict,
    "motion_config": dict,
    "class_names": list,
    "inputs": dict,
    "outputs": dict,
    "files": dict,
    "roles": dict,
    "target": dict,
}


def check_member_name(name: object, where: str = "bundle") -> str:
    """``name`` as a plain relative POSIX path (no ``..``, not absolute, no backslash or empty part)."""
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}: file name {name!r} is not a plain relative path; rebuild the bundle")
    path = PurePosixPath(name)
    plain = (
        not path.is_absolute()
        and ".." not in path.parts
        and "\\" not in name
        and "\x00" not in name
        and name == path.as_posix()
        and not name.startswith("./")
    )
    if not plain:
        raise InputError(
            f"{where}: file name {name!r} is not a plain relative path inside the bundle; rebuild the bundle"
        )
    return name


@dataclass(frozen=True)
class Manifest:
    """What a validated manifest guarantees, typed: the one view of a bundle every reader uses (no
    reader outside this module looks a key up in the JSON). ``data`` keeps the JSON object as written,
    for the writers that copy it whole (the Triton repository's model config, ``engine.json``)."""

    schema_version: int
    backend: str
    precision: str  # the target's precision; a CPU bundle may carry two (``precisions``)
    class_names: tuple[str, ...]
    inputs: Mapping[str, tuple[int, ...]]  # the model's input names and shapes, in the model's order
    outputs: Mapping[str, tuple[int, ...]]
    files: Mapping[str, str]  # every file the bundle holds -> its sha256
    roles: Mapping[str, str]  # role (model, engine, model_fp32, ...) -> file
    motion_config: MotionConfig
    face_detector: str | None  # what aligned the training faces (None: rendered crops, or 0.1.x bundles)
    target_name: str
    target_options: Mapping[str, Any]  # the backend's options (mpt_edge.backends reads them with defaults)
    precisions: Mapping[str, str]  # precision -> role of its model
    triton_models: Mapping[str, str]  # precision -> served model name (Triton bundles; else empty)
    max_batch_size: int  # what a server takes at once (Triton), 1 elsewhere
    fp32_onnx_sha256: str | None  # the FP32 model the bundle was built from
    validation: Mapping[str, Any]  # the metrics the bundle was validated with
    data: Mapping[str, Any]


def _fail(where: str, what: str) -> InputError:
    return InputError(
        f"{where}: {what}; the manifest is damaged or from another tool: rebuild the bundle with `mpt-edge build`"
    )


def _shape(value: object) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in value)
    ):
        raise ValueError
    return tuple(value)


PRECISIONS = ("fp32", "fp16", "int8")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "int | None": (int, type(None)),
}


def check_types(kind: type, values: Mapping[str, Any], label: str) -> None:
    """Each value of ``values`` of the JSON type its field in the dataclass ``kind`` declares (a number
    where a float is, never a string "2.0"; a tuple field a list of numbers): one line naming the field."""
    declared = {f.name: str(f.type) for f in fields(kind)}
    for name, value in values.items():
        annotation = declared.get(name)
        if annotation is None:
            continue
        if annotation.startswith("tuple["):
            ok = isinstance(value, (list, tuple)) and all(_is_number(v) for v in value)
        else:
            allowed = _JSON_TYPES.get(annotation)
            ok = allowed is None or (isinstance(value, allowed) and (bool in allowed or not isinstance(value, bool)))
            if ok and isinstance(value, float) and not math.isfinite(value):
                ok = False
        if not ok:
            raise InputError(f"{label}.{name} is {value!r}, not a {annotation}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_values(data: Mapping[str, Any], where: str, outputs: Mapping[str, tuple[int, ...]]) -> None:
    """The manifest to the value: what the runtime would otherwise meet at the first event as a traceback
    (a string alpha, two class names for a 3-output model) or as unbounded work (100000 threads)."""
    from mpt_edge.backends import BACKENDS as BACKEND_TABLE
    from mpt_edge.backends import Backend
    from mpt_edge.faces import DETECTORS
    from mpt_edge.motion.config import MotionConfig

    if data["precision"] not in PRECISIONS:
        raise _fail(where, f"precision {data['precision']!r} is not one of {', '.join(PRECISIONS)}")
    motion = data["motion_config"]
    try:
        check_types(MotionConfig, motion, "motion_config")
        MotionConfig.from_dict(dict(motion))
    except (InputError, TypeError) as error:
        raise _fail(where, str(error)) from None
    names = data["class_names"]
    if len(set(names)) != len(names) or not all(n.strip() for n in names):
        raise _fail(where, f"class_names {names!r} has an empty or repeated name")
    first, shape = next(iter(outputs.items()))
    if shape[-1] != len(names):
        raise _fail(where, f"{len(names)} class names for the output {first!r} of {shape[-1]} classes")
    options = data["target"].get("options", {})
    if not isinstance(options, dict):
        raise _fail(where, "target.options is not an object")
    kind = BACKEND_TABLE[Backend(data["backend"])].options
    if kind is not None:
        try:
            check_types(kind, options, f"target.options ({data['backend']})")
            kind(**{k: v for k, v in options.items() if k in {f.name for f in fields(kind)}})
        except (InputError, TypeError) as error:
            raise _fail(where, f"target.options: {error}") from None
    if data["backend"] == Backend.TRITON:
        models = (data.get("triton") or {}).get("models") if isinstance(data.get("triton"), dict) else None
        wanted = set(data.get("precisions") or {data["precision"]: "model"})
        if (
            not isinstance(models, dict)
            or not wanted <= set(models)
            or not all(isinstance(v, str) and v for v in models.values())
        ):
            raise _fail(where, f"a Triton bundle needs 'triton.models' naming the served model of {sorted(wanted)}")
    face = data.get("face")
    if face is not None:
        detector = face.get("detector") if isinstance(face, dict) else ""
        if detector is not None and detector not in DETECTORS:
            raise _fail(where, f"face.detector {detector!r} is not one of {', '.join(DETECTORS)}")


def parse_manifest(data: object, where: str, mpt_edge_version: str = "") -> Manifest:
    """Validate a decoded ``manifest.json``; one line naming ``where`` for the first thing wrong."""
    if not isinstance(data, dict):
        raise _fail(where, f"{MANIFEST} is a JSON {type(data).__name__}, not an object")
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _fail(where, f"schema_version is {version!r}, not an integer")
    if version != SCHEMA_VERSION:
        raise InputError(
            f"{where} has schema version {version} (written by mpt-edge "
            f"{data.get('mpt_edge_version', '?')}); this mpt-edge "
            f"{mpt_edge_version or ''} reads {SCHEMA_VERSION}: rebuild the bundle or use the matching mpt-edge".replace(
                "  ", " "
            )
        )
    for key, kind in _REQUIRED.items():
        if key not in data:
            raise _fail(where, f"{MANIFEST} lacks {key!r}")
        if not isinstance(data[key], kind):
            raise _fail(
                where,
                (
                    f"{key!r} is a JSON {type(data[key]).__name__}, not "
                    f"{'an object' if kind is dict else 'a ' + kind.__name__}"
                ),
            )
    backend = data["backend"]
    if backend not in BACKENDS:
        raise InputError(
            f"{where} names backend {backend!r}, which this mpt-edge does not know "
            f"({', '.join(BACKENDS)}); upgrade mpt-edge"
        )
    names = data["class_names"]
    if not names or not all(isinstance(n, str) for n in names):
        raise _fail(where, "class_names is not a non-empty list of names")
    shapes: dict[str, dict[str, tuple[int, ...]]] = {}
    for key in ("inputs", "outputs"):
        try:
            shapes[key] = {str(k): _shape(v) for k, v in data[key].items()}
        except ValueError:
            raise _fail(where, f"{key!r} is not names with positive integer shapes") from None
        if not shapes[key]:
            raise _fail(where, f"{key!r} is empty")
    files = data["files"]
    if not files:
        raise _fail(where, "'files' lists no file")
    for name, digest in files.items():
        check_member_name(name, where)
        if name == MANIFEST:
            raise _fail(where, f"'files' lists {MANIFEST} itself")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise _fail(where, f"the sha256 of {name!r} is {digest!r}, not 64 hex digits")
    roles = data["roles"]
    if "model" not in roles:
        raise _fail(where, "'roles' names no model")
    device_built = DEVICE_BUILT_ROLES.get(backend, frozenset())
    for role, name in roles.items():
        check_member_name(name, where)
        if name not in files and role not in device_built:
            raise InputError(
                f"{where}: role {role!r} names {name!r}, which 'files' does not list (nothing "
                "unverified is loaded); rebuild the bundle"
            )
        if name.endswith(".xml") and name[:-4] + ".bin" not in files:
            raise InputError(
                f"{where}: role {role!r} is the OpenVINO model {name!r}, but 'files' does not "
                f"list its weights {name[:-4]}.bin; rebuild the bundle"
            )
    precisions = data.get("precisions")
    if precisions is not None:
        if not isinstance(precisions, dict) or not all(isinstance(r, str) and r in roles for r in precisions.values()):
            raise _fail(where, "'precisions' does not map precisions to roles")
    if not isinstance(data["target"].get("name", ""), str):
        raise _fail(where, "the target's name is not a string")
    _check_values(data, where, shapes["outputs"])
    triton: dict[str, Any] = data["triton"] if isinstance(data.get("triton"), dict) else {}
    batch = triton.get("max_batch_size", 1)
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= 4096:
        raise _fail(where, f"triton.max_batch_size {batch!r} is not an integer in 1..4096")
    source: dict[str, Any] = data["source"] if isinstance(data.get("source"), dict) else {}
    fp32_sha = source.get("fp32_onnx_sha256")
    validation = data.get("validation")
    return Manifest(
        schema_version=version,
        backend=backend,
        precision=data["precision"],
        class_names=tuple(names),
        inputs=shapes["inputs"],
        outputs=shapes["outputs"],
        files=dict(files),
        roles=dict(roles),
        motion_config=MotionConfig.from_dict(dict(data["motion_config"])),
        face_detector=(data.get("face") or {}).get("detector"),
        target_name=str(data["target"].get("name", backend)),
        target_options=dict(data["target"].get("options", {})),
        precisions=dict(precisions or {data["precision"]: "model"}),
        triton_models=dict(triton.get("models") or {}),
        max_batch_size=batch,
        fp32_onnx_sha256=fp32_sha if isinstance(fp32_sha, str) else None,
        validation=dict(validation) if isinstance(validation, dict) else {},
        data=data,
    )
