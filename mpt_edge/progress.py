"""rich progress bars for long work, shared by the commands and the stages (rich is a base dependency)."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def make_progress(console: Console) -> Progress:
    """Bars on a terminal; into a pipe or a file none (rich would leave a truncated last frame such
    as ``generating synthetic set ━━ 1…``): the steps' own one-line messages say what happens."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )


Log = Callable[[str], None]  # where the APIs send their one-line messages


def quiet(message: str) -> None:
    """The APIs' default ``log``: a library says nothing unless asked."""
