"""Editing real photos: detect, align, edit at model resolution, paste back seamlessly.

`Editor` (in `defgan_tf.editing.editor`) is the Python API behind `defgan-edit`;
it is imported lazily here so that `defgan_tf.data.media` stays free of TensorFlow.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name in ("Editor", "EditResult"):
        from defgan_tf.editing import editor

        return getattr(editor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
