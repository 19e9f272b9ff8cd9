"""What every engine shares: ``close()`` frees what it holds (a runtime session, CUDA memory, a gRPC
channel) at a moment the caller chooses, and ``with engine:`` closes it (Polygraphy's runner pattern),
instead of leaving it to the garbage collector."""

from __future__ import annotations

from types import TracebackType


class EngineBase:
    closed = False

    def close(self) -> None:
        """Free the engine's resources; closing twice is harmless. Engines override :meth:`_release`."""
        if not self.closed:
            self.closed = True
            self._release()

    def _release(self) -> None:
        """What this engine frees (nothing by default)."""

    def __enter__(self) -> EngineBase:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
