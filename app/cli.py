"""The `mpt-edge` command line: builds the Typer app and registers the commands, one module each in
:mod:`app.commands` (DESIGN §2, §4). Workstation stages (train/export/calibrate/build) are
imported lazily inside the commands, so the device install never needs torch. User errors print one
line and exit 2.
"""

from __future__ import annotations

import typer

from app.commands import (
    bench,
    bench_stream,
    build,
    calibrate,
    demo,
    export,
    faces,
    magnify,
    prepare,
    run,
    spot,
    targets,
    train,
    unpack,
)
from app.commands import (
    eval as eval_command,
)
from app.commands.common import EXIT_USER_ERROR  # noqa: F401  (re-exported: tests and scripts use app.cli.EXIT_USER_ERROR)
from mpt_edge import __version__

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
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", help="Also show third-party libraries' log lines (NNCF, OpenVINO, ...)."
    ),
) -> None:
    """Train -> export -> calibrate -> build -> run."""
    from mpt_edge.verbosity import set_verbose

    set_verbose(verbose)


# In the order of the chain: workstation stages, then the device. Each command is one module.
for _module, _name in (
    (prepare, "prepare"),
    (train, "train"),
    (eval_command, "eval"),
    (export, "export"),
    (calibrate, "calibrate"),
    (targets, "targets"),
    (build, "build"),
    (bench, "bench"),
    (unpack, "unpack"),
    (run, "run"),
    (bench_stream, "bench-stream"),
    (spot, "spot"),
    (demo, "demo"),
    (magnify, "magnify"),
):
    app.command(name=_name)(getattr(_module, "eval_" if _name == "eval" else _name.replace("-", "_")))
app.add_typer(faces.app, name="faces")  # install / list / detect: a group, one module


def main() -> None:
    """Console entry point."""
    import sys

    from app.commands.common import accept_renamed

    app(args=accept_renamed(sys.argv[1:]), prog_name="mpt-edge")


if __name__ == "__main__":
    main()
