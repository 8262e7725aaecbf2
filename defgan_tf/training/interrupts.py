"""Ctrl-C as a request to stop at the next step boundary, with a checkpoint."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class StopRequest:
    """While active, the first SIGINT sets `requested`; a second one raises KeyboardInterrupt.

    Why a flag rather than Python's default KeyboardInterrupt: the exception is raised
    wherever the main thread happens to be, inside TensorFlow, tf.data or tqdm code, and
    anything there that catches BaseException swallows it. A CI run of the Ctrl-C test
    lost its interrupt after step 1 and trained on to the end (where it went was not
    found). The training loop checks the flag between steps, so a Ctrl-C always ends
    the run with a checkpoint; pressing it twice still aborts at once.

    Outside the main thread (where signal handlers cannot be installed) it does nothing,
    and `requested` stays False.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None
        self._holding = self._held = False

    def __enter__(self) -> StopRequest:
        self.requested = False
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    @contextmanager
    def held(self) -> Iterator[None]:
        """Inside the block a second Ctrl-C raises KeyboardInterrupt only when it ends.

        For changes that must happen whole (swapping the generators with their moving
        averages, one assign per variable), so that the checkpoint an aborted run writes
        never holds half of one. Keep such blocks short: they delay the abort.
        """
        self._holding, self._held = True, False
        try:
            yield
        finally:
            self._holding = False
        if self._held:
            self._held = False
            raise KeyboardInterrupt

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and self._holding:
            self._held = True
            return
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: stopping after this step, with a checkpoint (Ctrl-C again aborts "
              "at once).", file=sys.stderr, flush=True)
