"""Ctrl-C reaches the batch driver even when the KeyboardInterrupt it raises is swallowed."""

from __future__ import annotations

import signal

import pytest

from imusynth.batch.interrupt import sigint_latch


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Python's own SIGINT handler, as in a terminal (a run started in the background inherits SIG_IGN)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_swallowed_interrupt_is_raised_again_by_check():
    with sigint_latch() as latch:
        assert signal.getsignal(signal.SIGINT) == latch.handler
        latch.check()  # nothing pending: no exception
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass  # what a __del__ or a library's broad except does with it
        with pytest.raises(KeyboardInterrupt):
            latch.check()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_custom_handler_is_left_alone():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        with sigint_latch() as latch:
            signal.raise_signal(signal.SIGINT)
            latch.check()  # the application's own handler ran instead; the latch did not install
        assert seen == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)
