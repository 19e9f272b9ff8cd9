"""rich progress bars for long work: data generation/decoding and every epoch of every fold."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.progress import Progress

from mpt_edge.progress import make_progress  # noqa: F401  (re-exported for the stages)


def counter(progress: Progress | None, description: str, total: int) -> Callable[[], None]:
    """A tick function that advances one bar, created on the first tick (work that turns out to be
    cached shows no empty bar); a no-op without a progress display."""
    if progress is None:
        return lambda: None
    task: list[Any] = []

    def tick() -> None:
        if not task:
            task.append(progress.add_task(description, total=total, status=""))
        progress.advance(task[0])

    return tick


class EpochBars:
    """One bar per epoch of a fold (batches), showing running loss, then the epoch's held-out UF1."""

    def __init__(self, progress: Progress, fold: str, log: Callable[[str], None]) -> None:
        self.progress, self.fold, self.log = progress, fold, log
        self.task: Any = None
        self.losses: list[float] = []

    def epoch_started(self, epoch: int, epochs: int, batches: int) -> None:
        self.losses, self.epochs, self.started = [], epochs, time.perf_counter()
        self.task = self.progress.add_task(f"{self.fold} epoch {epoch + 1}/{epochs}", total=batches, status="")

    def batch_done(self, loss: float) -> None:
        self.losses.append(loss)
        self.progress.update(self.task, advance=1, status=f"loss {sum(self.losses) / len(self.losses):.3f}")

    def epoch_done(self, record: dict[str, Any]) -> None:
        parts = [f"loss {record['train_loss']:.3f}"]
        if "eval_uf1" in record:
            parts.append(f"held-out UF1 {record['eval_uf1']:.3f} acc {record['eval_accuracy']:.3f}")
        if "val_uf1" in record:
            parts.append(f"val UF1 {record['val_uf1']:.3f}")
        self.progress.update(self.task, status=", ".join(parts))
        if self.progress.disable:  # no bar to show it: one plain line per epoch
            self.log(
                f"{self.fold} epoch {record['epoch']}/{self.epochs}: {', '.join(parts)} "
                f"({time.perf_counter() - self.started:.1f} s)"
            )
