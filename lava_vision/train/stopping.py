"""Stopping a run cleanly on SIGINT / SIGTERM: the first signal asks for a stop at the end of the
current optimiser step (the trainer saves ``last/`` first), a second one stops at once (the
checkpoint swap is atomic, so the previous checkpoint stays usable)."""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM: the run saved ``last/`` at the step it had reached and stopped."""


class StopRequest:
    """Set by the first SIGINT/SIGTERM while ``catch()`` is active; ``signum`` is None until then."""

    def __init__(self, say: Callable[..., None] = print) -> None:
        self.signum: int | None = None
        self._say = say  # e.g. Accelerator.print: only the main process speaks

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else "a signal"

    @contextlib.contextmanager
    def catch(self) -> Iterator[StopRequest]:
        """Install the handlers for the duration of the block (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, frame: object) -> None:
            if self.signum is not None:
                raise KeyboardInterrupt
            self.signum = signum
            self._say(f"\n{signal.Signals(signum).name}: saving last/ after this step, then stopping "
                      "(again to stop at once)", file=sys.stderr)

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
