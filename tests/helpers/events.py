"""Reading `mpt-edge run`'s event lines in tests: the expressions (ME, MaE) apart from the face's blinks
and talking spells, which come as events of their own."""

from __future__ import annotations

import json
from typing import Any


def expression_lines(text: str) -> list[dict[str, Any]]:
    """The ME and MaE events of a JSON-lines text (blinks and talking left out)."""
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [event for event in events if event["type"] in ("ME", "MaE")]
