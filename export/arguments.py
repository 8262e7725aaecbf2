"""Argument types the export CLIs share: a bad value is one usage line (exit 2), at once."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An argparse `type`: an integer ≥ 1.

    Checked while parsing, so `--faces 0` stops before minutes of tracing and converting
    instead of failing (or silently meaning "all") afterwards.

    Raises:
        argparse.ArgumentTypeError: argparse prints it after the flag's name, exit 2.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer ≥ 1, received {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, received {value}")
    return value
