"""Argument types the commands, exporters and benchmarks share: a bad value is one usage
line (exit 2) before any work starts."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from defgan_tf.config import did_you_mean


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse `type`: an integer ≥ `minimum`, checked before any work starts.

    Args:
        minimum: the smallest accepted value.

    Returns:
        A function text → int that raises argparse.ArgumentTypeError (argparse prints it
        after the flag's name and exits with status 2) for anything else.
    """
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer ≥ {minimum}, received {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be ≥ {minimum}, received {value}")
        return value

    return parse


positive_int = at_least(1)


def one_of(valid: Sequence[str], what: str) -> Callable[[str], str]:
    """An argparse `type`: one of the names `valid`, else the error suggests the closest.

    Args:
        valid: the accepted names.
        what: what a name stands for, for the message ("mode", "benchmark").

    Returns:
        A function text → text that raises argparse.ArgumentTypeError for an unknown name.
    """
    def parse(text: str) -> str:
        if text not in valid:
            # A low cutoff: names are often typed as their first word ("warp").
            raise argparse.ArgumentTypeError(
                f"unknown {what} {text!r}. Valid: {', '.join(valid)}."
                f"{did_you_mean(text, valid, cutoff=0.4)}")
        return text

    return parse
