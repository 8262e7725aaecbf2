"""Ctrl-C as a stop request: the flag, the second press, the restored handler."""

import signal
import threading

import pytest

from defgan_tf.training.interrupts import StopRequest


def test_first_sigint_sets_the_flag_and_the_second_raises(capsys):
    before = signal.getsignal(signal.SIGINT)
    with StopRequest() as stop:
        assert not stop.requested
        signal.raise_signal(signal.SIGINT)
        assert stop.requested
        assert "stopping after this step" in capsys.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_entering_again_clears_an_old_request():
    stop = StopRequest()
    with stop:
        signal.raise_signal(signal.SIGINT)
    with stop:
        assert not stop.requested


def test_outside_the_main_thread_it_installs_nothing():
    before = signal.getsignal(signal.SIGINT)
    seen = []

    def worker():
        with StopRequest() as stop:
            seen.append((stop.requested, signal.getsignal(signal.SIGINT)))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [(False, before)]


def test_inside_held_the_second_sigint_waits_for_the_block_to_end():
    with StopRequest() as stop:
        signal.raise_signal(signal.SIGINT)
        finished = []
        with pytest.raises(KeyboardInterrupt), stop.held():
            signal.raise_signal(signal.SIGINT)
            finished.append("the whole block")
        assert finished == ["the whole block"]
        with stop.held():
            pass  # nothing left pending
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)  # outside a held block: at once
