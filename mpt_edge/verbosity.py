"""Quiet by default: third-party libraries' log lines reach the terminal only with ``mpt-edge
--verbose``. The setting lives in the environment so that processes a command starts (DDP ranks,
benchmark subprocesses) inherit it; libraries configure their loggers when they are imported, so a
stage calls :func:`quiet` right after importing one."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator

_ENV = "MPT_EDGE_VERBOSE"


def set_verbose(on: bool) -> None:
    os.environ[_ENV] = "1" if on else "0"


def verbose() -> bool:
    return os.environ.get(_ENV) == "1"


def quiet(*loggers: str) -> None:
    """Raise these libraries' loggers to WARNING unless --verbose was given."""
    if not verbose():
        for name in loggers:
            logging.getLogger(name).setLevel(logging.WARNING)


@contextlib.contextmanager
def library_output() -> Iterator[None]:
    """Around a library call that prints its own progress to stdout (NNCF's "Statistics collection"
    bars): shown on a terminal or with --verbose, swallowed in a pipe or file, where rich would leave
    a frame of debris per bar."""
    if verbose() or sys.stdout.isatty():
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield
