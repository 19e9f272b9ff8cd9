"""The build work folder's cache: an artifact is reused only when it is exactly what the inputs make.

Each cached artifact (the exported ONNX, an INT8 model and its report) has a record beside it: the
*key* it was made from (the sha256 of its source model, the calibration data and size, the settings,
the mpt-edge version) and the sha256 of every file it consists of. :func:`reusable` answers "reuse"
only when the key is the same and every file still hashes to its record; anything else (another
checkpoint, other data, a file overwritten with random bytes, a truncated report, no record from an
older mpt-edge) is rebuilt, and the one line it logs says why. The record is written last and
atomically, after the files, so a killed build leaves nothing that a later build would trust.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mpt_edge import __version__
from mpt_edge.bundle import sha256_file
from mpt_edge.io import atomic_write_bytes

Log = Callable[[str], None]
RECORD_SUFFIX = ".cache.json"


def record_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + RECORD_SUFFIX)


def _canonical(key: Mapping[str, Any]) -> Any:
    return json.loads(json.dumps({"mpt_edge_version": __version__, **key}, sort_keys=True, default=str))


def reusable(artifact: Path, key: Mapping[str, Any], files: Sequence[Path], log: Log) -> bool:
    """Whether ``artifact`` (and its companion ``files``) was made from ``key`` and is unaltered."""
    record = record_path(artifact)
    if not any(f.exists() for f in (artifact, *files)):
        return False  # nothing cached: build, nothing to explain
    why = _stale(record, _canonical(key), [artifact, *files])
    if why is None:
        return True
    log(f"rebuilding {artifact.name}: {why}")
    return False


def _stale(record: Path, key: Any, files: Sequence[Path]) -> str | None:
    try:
        saved = json.loads(record.read_text())
        recorded_key, hashes = saved["key"], saved["files"]
    except FileNotFoundError:
        return "no cache record (an older or interrupted build)"
    except (OSError, ValueError, KeyError, TypeError):
        return f"its cache record {record.name} is damaged"
    if recorded_key != key:
        changed = (
            sorted(k for k in set(recorded_key) | set(key) if recorded_key.get(k) != key.get(k))
            if isinstance(recorded_key, dict)
            else ["all"]
        )
        return f"made from other inputs ({', '.join(changed)} changed)"
    for file in files:
        if not file.is_file():
            return f"{file.name} is missing"
        if hashes.get(file.name) != sha256_file(file):
            return f"{file.name} was altered since it was made (sha256 differs)"
    return None


def store(artifact: Path, key: Mapping[str, Any], files: Sequence[Path]) -> None:
    """Record ``artifact`` (and ``files``) as made from ``key``: written after them, atomically."""
    hashes = {f.name: sha256_file(f) for f in (artifact, *files)}
    atomic_write_bytes(
        record_path(artifact), (json.dumps({"key": _canonical(key), "files": hashes}, indent=2) + "\n").encode()
    )


def forget(artifact: Path) -> None:
    """Drop the record first, so a build killed while remaking ``artifact`` leaves nothing trusted."""
    record_path(artifact).unlink(missing_ok=True)
