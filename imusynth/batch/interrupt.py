"""Ctrl-C for the batch driver: remembered as well as raised, so that it cannot be lost.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when SIGINT arrives; raised
inside a ``__del__``, a weakref callback or a library's broad ``except``, it is swallowed, and a batch
would go on to finish with exit status 0. The driver's loop checks the latch once per turn instead.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["SigintLatch", "sigint_latch"]


class SigintLatch:
    """Ctrl-C that cannot be lost: the handler remembers it as well as raising KeyboardInterrupt, so an
    interrupt raised where Python swallows exceptions (a ``__del__``, a library's broad ``except``) still
    stops the batch at the next turn of the loop (:meth:`check`)."""

    def __init__(self) -> None:
        self.hit = False

    def handler(self, signum: int, frame: Any) -> None:
        self.hit = True
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.hit:
            raise KeyboardInterrupt


@contextmanager
def sigint_latch() -> Iterator[SigintLatch]:
    """Install a :class:`SigintLatch`'s handler where Python's own is in place (main thread), then restore."""
    latch = SigintLatch()
    previous = signal.getsignal(signal.SIGINT)
    install = previous is signal.default_int_handler and threading.current_thread() is threading.main_thread()
    if install:
        signal.signal(signal.SIGINT, latch.handler)
    try:
        yield latch
    finally:
        if install:
            signal.signal(signal.SIGINT, previous)
