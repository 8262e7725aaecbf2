"""Writing files so that no reader, and no later run, ever sees half of one."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def written_in_place(path: str | Path) -> Iterator[Path]:
    """Yields a hidden name beside `path` to write to; renames it onto `path` afterwards.

    An interrupted write (Ctrl-C, a full disk, an exception while encoding) then leaves
    neither a truncated file under the real name nor a half-replaced older one, and the
    hidden file is removed. The rename is atomic because both names are in one folder.
    The hidden name ends in the real name, whose suffix some writers read to pick the
    format (PIL; Keras wants ".weights.h5").
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".partial-{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Writes `text` (UTF-8) to `path` through `written_in_place`; returns the path."""
    with written_in_place(path) as partial:
        partial.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Writes `data` to `path` through `written_in_place`; returns the path."""
    with written_in_place(path) as partial:
        partial.write_bytes(data)
    return Path(path)
