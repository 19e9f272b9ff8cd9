"""The check every bad-input test makes: one error line and exit 2, never a traceback."""

from __future__ import annotations

from app.commands.common import EXIT_USER_ERROR


def one_line_error(result, *needles: str) -> None:
    """Exit 2, one error line (notes said before it aside), no traceback, every needle in it."""
    assert result.exit_code == EXIT_USER_ERROR, result.output
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip() and not line.startswith("note: ")]
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in result.output, result.output
