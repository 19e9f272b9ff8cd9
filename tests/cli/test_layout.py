"""The house layout (DESIGN §2): one module per command, and imports that run with the stages'
direction — the device runtime (mpt_edge/) imports no stage, train/ never imports calibrate/ or
targets/, and nothing but the app imports the app (the CLI, its commands and the demo)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_floors_import_only_the_floors_below():
    """mpt_edge/ (the device) imports no stage and no app, at load or lazily; the stages never import
    the app; train/ never a later stage."""
    device = list((ROOT / "mpt_edge").rglob("*.py"))
    assert len(device) > 40 and not (ROOT / "mpt_edge" / "commands").exists()
    for path in device:
        above = [m for m in imported_modules(path) if m.split(".")[0] in ("train", "calibrate", "targets", "app")]
        assert not above, f"{path} imports {above}: the device runtime stands on its own"
    for stage in ("train", "calibrate", "targets"):
        for path in (ROOT / stage).rglob("*.py"):
            imports = imported_modules(path)
            assert not any(m.split(".")[0] == "app" for m in imports), f"{path} imports the app"
            if stage == "train":
                later = [m for m in imports if m.split(".")[0] in ("calibrate", "targets")]
                assert not later, f"{path} imports {later}: train/ must not depend on later stages"


def test_every_command_is_one_module_and_cli_only_registers_them():
    from app.cli import app

    commands = {info.name: info.callback for info in app.registered_commands}
    assert set(commands) >= {
        "prepare",
        "train",
        "eval",
        "export",
        "calibrate",
        "targets",
        "build",
        "bench",
        "unpack",
        "run",
        "bench-stream",
        "demo",
        "magnify",
    }
    for name, callback in commands.items():
        assert callback.__module__ == f"app.commands.{name.replace('-', '_')}", (name, callback.__module__)
    cli = ast.parse((ROOT / "app" / "cli.py").read_text())
    functions = [n.name for n in cli.body if isinstance(n, ast.FunctionDef)]
    assert functions == ["_version_callback", "_root", "main"], functions  # no command bodies in cli.py


STAGE_APIS = {"train.api", "train.options", "calibrate.api", "targets.api"}
HELPER_PREFIXES = ("_print", "_parse", "_format", "print_")


def _stage_imports(tree: ast.Module) -> set[str]:
    """Every train/calibrate/targets module a file imports, ``from train import api`` counted as train.api."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in ("train", "calibrate", "targets"):
                found.update(f"{node.module}.{a.name}" for a in node.names)
            else:
                found.add(node.module)
    return {m for m in found if m.split(".")[0] in ("train", "calibrate", "targets")}


def test_no_command_module_defines_stage_logic():
    """A command is options -> one API call -> printing: it reaches the stages only through their API
    modules, defines no class, and besides the command itself only printing and option-parsing helpers."""
    modules = [p for p in (ROOT / "app" / "commands").glob("*.py") if p.name not in ("__init__.py", "common.py")]
    assert len(modules) >= 15
    for path in modules:
        tree = ast.parse(path.read_text())
        stray = _stage_imports(tree) - STAGE_APIS
        assert not stray, f"{path.name} imports {sorted(stray)}: call the stage through {sorted(STAGE_APIS)}"
        classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
        assert not classes, f"{path.name} defines {classes}: typed results belong to the API"
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.decorator_list:
                assert node.name.startswith(HELPER_PREFIXES), (
                    f"{path.name} defines {node.name}(): stage logic belongs in an API module; a command keeps only "
                    f"helpers named {HELPER_PREFIXES}"
                )


def test_the_stage_apis_import_no_torch_at_load():
    """The CLI reads its defaults from the API's dataclasses at import: they must not pull torch in."""
    import subprocess
    import sys

    code = (
        "import sys, train.api, train.options, calibrate.api, targets.api, mpt_edge.api, "
        "app.cli; print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.strip()
    assert out == "False"


def test_the_tests_mirror_the_packages():
    """tests/<package>/ holds the tests of a package (mpt_edge, train, calibrate, targets); tests/cli/ what only
    the command line does and the project-wide checks. Nothing at the top but fixtures and helpers."""
    tests = ROOT / "tests"
    assert not list(tests.glob("test_*.py")), "put each test module in the folder of the package it tests"
    folders = {p.parent.name for p in tests.rglob("test_*.py") if "helpers" not in p.parts}
    assert folders == {"mpt_edge", "train", "calibrate", "targets", "cli"}, folders


def test_every_backend_that_calibrates_has_one_quantizer_and_every_bundle_backend_one_file_layout():
    """One table per kind of backend: the device's (mpt_edge.backends), calibrate's, the bundle builder's."""
    from calibrate.backends import QUANTIZERS
    from mpt_edge.backends import CALIBRATION_BACKENDS, Backend
    from targets.build import BUNDLE_FILES

    assert set(QUANTIZERS) == set(CALIBRATION_BACKENDS)
    assert set(BUNDLE_FILES) == set(Backend) - {Backend.TRITON}  # Triton's repository: targets/triton.py
    assert [b for b, q in QUANTIZERS.items() if q.accuracy_control] == [Backend.OPENVINO]


def test_the_backend_table_is_data_and_every_backend_has_one_opener():
    """engines -> backends, never back: the device's table holds no code that opens an engine."""
    import ast
    from pathlib import Path

    import mpt_edge.backends as backends
    from mpt_edge.backends import BACKENDS, Backend
    from mpt_edge.engines import OPENERS

    assert set(OPENERS) == set(BACKENDS) == set(Backend)
    tree = ast.parse(Path(backends.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m and m.startswith("mpt_edge.engines") for m in imported), imported
