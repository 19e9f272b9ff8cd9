"""What several commands share: one-line user errors, option help texts and the synthetic-set options."""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

F = TypeVar("F", bound=Callable[..., object])

EXIT_USER_ERROR = 2
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process ended by it
STOPPED_LINE = "stopped (SIGTERM); what was being written was finished or removed"

OVERWRITE_HELP = "Write into --out even though it holds files this command did not write (they may be replaced)."
DATASET_HELP = (
    "Data set: synthetic (built in), casme2, samm, smic (SMIC-HS), casme3 (CAS(ME)^3 part A), megc2019 (composite)."
)
ROOT_HELP = (
    "Data set folder as distributed, or a `mpt-edge prepare` cache. For synthetic: "
    "where it is generated (default: the user cache)."
)


# Options renamed in 0.2.0 so that one flag means one thing in every command; the old spelling still works,
# with a note. (Long names renamed keep the old one as a second name on the option itself: calibrate --size.)
RENAMED_FLAGS = {("calibrate", "-b"): "--backend"}  # -b is --bundle in run, spot and bench-stream


def accept_renamed(argv: list[str]) -> list[str]:
    """``argv`` with each renamed flag of its command replaced by the new name, said once on stderr."""
    command = next((a for a in argv if not a.startswith("-")), None)
    renamed = []
    for arg in argv:
        new = RENAMED_FLAGS.get((command or "", arg))
        if new is not None:
            typer.echo(
                f"note: `{command} {arg}` is now `{command} {new}` ({arg} means --bundle elsewhere); {arg} still works",
                err=True,
            )
        renamed.append(new or arg)
    return renamed


def user_errors(func: F) -> F:
    """The command boundary: every failure a user can cause or fix ends as one line on stderr and exit 2.

    Our own errors (:class:`MptEdgeError`) say what to do; the operating system's (a full or read-only
    disk, a name too long, no permission), a damaged tar or JSON file, and a click option error are
    turned into one line by :func:`mpt_edge.errors.describe`. With ``mpt-edge --verbose`` the traceback
    of the cause is printed first. SIGTERM is handled like Ctrl-C while the command runs, so what is
    being written is finished or removed (never left half written under its final name)."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        from mpt_edge.errors import describe
        from mpt_edge.signals import Terminated, sigterm_as_interrupt
        from mpt_edge.verbosity import verbose

        try:
            with sigterm_as_interrupt():
                return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Terminated:
            typer.secho(STOPPED_LINE, err=True)
            raise typer.Exit(EXIT_TERMINATED) from None
        except Exception as error:
            line = None if _is_cli_exception(error) else describe(error)  # click's own: it prints them itself
            if line is None:
                raise
            if verbose():
                traceback.print_exception(error, file=sys.stderr)
            typer.secho(f"error: {line}", err=True, fg=typer.colors.RED)
            raise typer.Exit(EXIT_USER_ERROR) from None

    return wrapper  # type: ignore[return-value]


def _is_cli_exception(error: Exception) -> bool:
    return type(error).__module__.split(".")[0] in ("click", "typer")


@contextlib.contextmanager
def json_only_stdout(as_json: bool) -> Iterator[None]:
    """With --json, stdout carries the JSON alone: whatever libraries print meanwhile (NNCF's progress
    bars) goes to stderr, so `mpt-edge calibrate --json | jq` works."""
    if not as_json:
        yield
        return
    nncf_log = logging.getLogger("nncf")  # its handler holds the import-time sys.stdout: quiet it instead
    level = nncf_log.level
    nncf_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        nncf_log.setLevel(level)


def console_for(as_json: bool) -> Console:
    """The console progress and messages go to: stderr, silent with --json (stdout then carries the JSON alone)."""
    from rich.console import Console

    return Console(stderr=True, quiet=as_json)


@contextlib.contextmanager
def reporting(as_json: bool) -> Iterator[tuple[Console, Progress | None]]:
    """The console a command's messages go to and the progress display an API call draws its bars on
    (None with --json: stdout then carries the JSON alone)."""
    from mpt_edge.progress import make_progress

    console = console_for(as_json)
    with make_progress(console) as progress:
        yield console, (None if as_json else progress)


# For bundles that carry an INT8 and an FP32 model (CPU targets): mpt_edge.precision.
PRECISION = typer.Option(
    "auto",
    "--precision",
    help=(
        "Bundles with INT8 and FP32 models: auto (the faster on this CPU, timed once and "
        "cached beside the bundle), int8 or fp32."
    ),
)


# Bundles built for a Triton server (triton-cpu / triton-gpu): the model runs there (mpt_edge.engines.triton).
SERVER = typer.Option(
    None,
    "--server",
    help=(
        "A Triton server serving this bundle (a triton-* model repository): "
        "grpc://HOST:8001. Frames are preprocessed here, the model runs there."
    ),
)


# The learned ME scorer's threshold, shared by spot and run (mpt_edge.spotting.me_scorer).
ME_THRESHOLD = typer.Option(
    None,
    "--me-threshold",
    min=0.0,
    max=1.0,
    help=(
        "P(ME) a micro-expression candidate must reach with the learned ME scorer (landmark-aligned faces); "
        "default: the threshold chosen with the model. Higher: fewer false MEs, and fewer true ones."
    ),
)


# The synthetic set's options, shared by train and eval (an eval must regenerate the same set).
SYNTHETIC_PRESET = typer.Option(
    "easy",
    "--synthetic-preset",
    help=(
        "Synthetic set: easy (clear motion, the demo's), hard (0.1-0.5 px motion among "
        "blinks, head motion, noise, JPEG; 24 subjects, 5 imbalanced classes) or "
        "realface (real photographs animated by facial action units, 640x480 CASME II "
        "layout, aligned by prepare; 16 of 17 people, 5 classes)."
    ),
)
SYNTHETIC_SUBJECTS = typer.Option(
    None, "--synthetic-subjects", help="Synthetic set: number of subjects (default: the preset's, easy 16 / hard 24)."
)
SYNTHETIC_CLIPS = typer.Option(
    None, "--synthetic-clips", help="Synthetic set: clips per class and subject, on average (default: easy 4 / hard 3)."
)
SYNTHETIC_CLASSES = typer.Option(
    None,
    "--synthetic-classes",
    help="Synthetic set: 3 (MEGC2019 labels) or 5 (CASME II labels) classes (default: easy 3 / hard 5).",
)
SYNTHETIC_SEED = typer.Option(0, "--synthetic-seed", help="Synthetic set: generator seed.")
