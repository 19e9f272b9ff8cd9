"""How the real-face sets land on disk: rendered into a temp folder beside their final place and renamed
into place whole (a killed render leaves nothing a later run would take for a set), and found again by
the settings recorded in their JSON."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mpt_edge.errors import InputError


@contextmanager
def staged_folder(root: Path) -> Iterator[Path]:
    """A temp folder that becomes ``root`` when the block ends, and vanishes if it fails."""
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        yield tmp
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def holds_set(root: Path, record: str, wanted: Mapping[str, Any]) -> bool:
    """Whether ``root`` already holds the set ``wanted`` describes (its ``record`` JSON says so); False for
    a new or empty folder (then removed, ready for :func:`staged_folder`); an error for anything else."""
    path = root / record
    if path.is_file():
        try:
            meta = json.loads(path.read_text())
        except ValueError:
            raise InputError(f"{path} is damaged; delete {root} to render the set again") from None
        found = {key: meta.get(key) for key in wanted}
        if found != dict(wanted):
            raise InputError(
                f"{root} holds another set ({found}, asked for {dict(wanted)}); pass the same options or another folder"
            )
        return True
    if root.exists() and any(root.iterdir()):
        raise InputError(f"{root} exists and holds no {record}: not a real-face set; choose an empty or new folder")
    if root.exists():
        root.rmdir()
    return False
