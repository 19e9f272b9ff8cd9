"""``mpt-edge targets``: the build targets (:func:`targets.api.list_targets`), what each needs and whether it
builds here."""

from __future__ import annotations

import json

import typer

from app.commands.common import user_errors


@user_errors
def targets(as_json: bool = typer.Option(False, "--json", help="Print the list as JSON.")) -> None:
    """List the build targets, what each needs installed and whether it can be built here."""
    from targets import api

    rows = api.list_targets()
    if as_json:
        typer.echo(json.dumps([row.as_dict() for row in rows]))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="mpt-edge targets")
    for column in ("target", "backend", "precision", "build needs", "can build here", "what"):
        table.add_column(column, no_wrap=column in ("target", "precision"))
    for row in rows:
        table.add_row(row.name, row.backend, row.precision, ", ".join(row.needs), row.builds_here, row.description)
    Console().print(table)
