"""``mpt-edge targets``: the build targets (:mod:`targets`), what each needs and whether it builds here."""

from __future__ import annotations

import json
from typing import Any

import typer

from mpt_edge.commands.common import user_errors


@user_errors
def targets(as_json: bool = typer.Option(False, "--json", help="Print the list as JSON.")) -> None:
    """List the build targets, what each needs installed and whether it can be built here."""
    rows = targets_table(as_json)
    if as_json:
        typer.echo(json.dumps(rows))


def targets_table(as_json: bool) -> list[dict[str, Any]]:
    from importlib.util import find_spec

    from rich.console import Console
    from rich.table import Table

    from targets import REGISTRY

    rows = []
    gpu_here = find_spec("tensorrt") is not None and __import__("shutil").which("nvidia-smi") is not None
    for profile in REGISTRY.values():
        missing = profile.missing()
        if missing:
            here = f"no: pip install {', '.join(missing)}"
        elif profile.backend == "tensorrt":
            here = "bundle yes; engine built here too" if gpu_here else "bundle yes (Q/DQ ONNX + build scripts); engine on the device"
        else:
            here = "yes"
        rows.append({"target": profile.name, "backend": profile.backend, "precision": profile.precision, "needs": list(profile.needs), "builds_here": here, "description": profile.description})
    if not as_json:
        table = Table(title="mpt-edge targets")
        for column in ("target", "backend", "precision", "build needs", "can build here", "what"):
            table.add_column(column, no_wrap=column in ("target", "precision"))
        for row in rows:
            table.add_row(row["target"], row["backend"], row["precision"], ", ".join(row["needs"]), row["builds_here"], row["description"])
        Console().print(table)
    return rows
