"""The house layout (DESIGN §2): one module per command, and imports that run with the stages'
direction — train/ never imports calibrate/ or targets/, no stage imports a command."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_stages_import_no_command_and_train_no_later_stage():
    for stage in ("train", "calibrate", "targets"):
        for path in (ROOT / stage).rglob("*.py"):
            imports = imported_modules(path)
            assert not any(m.startswith("mpt_edge.commands") for m in imports), f"{path} imports a command"
            if stage == "train":
                later = [m for m in imports if m.split(".")[0] in ("calibrate", "targets")]
                assert not later, f"{path} imports {later}: train/ must not depend on later stages"
    for path in (ROOT / "mpt_edge").rglob("*.py"):  # the device side imports the stages only inside commands
        if "commands" not in path.parts:
            staged = [m for m in imported_modules(path) if m.split(".")[0] in ("train", "calibrate", "targets")]
            assert not staged, f"{path} imports {staged}"


def test_every_command_is_one_module_and_cli_only_registers_them():
    from mpt_edge.cli import app

    commands = {info.name: info.callback for info in app.registered_commands}
    assert set(commands) >= {"prepare", "train", "eval", "export", "calibrate", "targets", "build", "bench", "unpack", "run", "bench-stream", "demo", "magnify"}
    for name, callback in commands.items():
        assert callback.__module__ == f"mpt_edge.commands.{name.replace('-', '_')}", (name, callback.__module__)
    cli = ast.parse((ROOT / "mpt_edge" / "cli.py").read_text())
    functions = [n.name for n in cli.body if isinstance(n, ast.FunctionDef)]
    assert functions == ["_version_callback", "_root", "main"], functions  # no command bodies in cli.py
