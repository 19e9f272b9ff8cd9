"""The documentation: the site builds with ``--strict`` (no broken link, no missing page, every API
reference found), the troubleshooting page lists every error the code raises, the README stays the short
page a newcomer reads first, and its two commands are the ones CI runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers.error_catalog import BEGIN, END, catalogue

ROOT = Path(__file__).resolve().parents[2]


def test_the_site_builds_strict(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    assert mkdocs, "pip install -e '.[dev]' (mkdocs-material, mkdocstrings)"
    result = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in ("EventStream", "StreamSummary", "TrainResult", "CalibrationReport", "BundleInfo"):
        assert name in api, f"the API reference lost {name}"


def test_the_troubleshooting_page_lists_every_error():
    page = (ROOT / "docs" / "troubleshooting.md").read_text()
    listed = page[page.index(BEGIN) : page.index(END) + len(END)]
    assert listed == catalogue(), (
        "regenerate: python -m tests.helpers.error_catalog (and paste it into docs/troubleshooting.md)"
    )
    assert listed.count("\n- `") > 150


def test_the_readme_is_short_and_its_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    commands = re.findall(r"```bash\n(.+?)\n```", readme)
    assert commands[0].endswith("mpt-edge demo --out runs/demo")
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci, "the README's test command must be the one .ci/run runs"
    for page in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / page).is_file(), page
