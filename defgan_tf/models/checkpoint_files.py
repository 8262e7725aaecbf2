"""Reads a checkpoint's files without restoring it; a truncated or corrupt one is named."""

from __future__ import annotations

import glob
import os
import re

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from defgan_tf.config import ConfigError

# The tensor in which tf.train.Checkpoint stores its object graph (names → variables).
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
# What reading a checkpoint's data file raises when the file is short (IndexError: "Read
# less bytes than requested"), missing (NotFoundError) or damaged (DataLossError: a CRC
# mismatch), once its index has been read. The object graph is stored last, so reading
# it (`checkpoint_model_paths`) finds a truncated file; restore() finds damaged bytes.
DATA_READ_ERRORS = (IndexError, tf.errors.DataLossError, tf.errors.NotFoundError,
                    tf.errors.OutOfRangeError)


def first_line(error: BaseException) -> str:
    """An error's first line, without TensorFlow's `{{function_node ...}}` prefix."""
    text = re.sub(r"\{\{.*?\}\}\s*", "", str(error)).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def corrupt_checkpoint_error(path: str, file: str, error: BaseException) -> ConfigError:
    """The error for a checkpoint file that cannot be read whole, and what to do next.

    A disk that filled up or a copy that stopped early leave such files; naming the file
    (rather than blaming the config) tells the user which one to replace, and which
    earlier checkpoints the run kept.

    Args:
        path: the checkpoint's path prefix.
        file: the file that could not be read (its index or data file).
        error: what TensorFlow raised.
    """
    directory = os.path.dirname(path)
    state = tf.train.get_checkpoint_state(directory) if directory else None
    earlier = [os.path.basename(p) for p in (state.all_model_checkpoint_paths if state else [])
               if os.path.basename(p) != os.path.basename(path)
               and tf.io.gfile.exists(f"{p}.index")]
    advice = (f", or make an earlier checkpoint current by naming it in model_checkpoint_path "
              f"of {os.path.join(directory, 'checkpoint')} (kept: {', '.join(earlier)})"
              if earlier else " (the run keeps no earlier checkpoint)")
    return ConfigError(f"checkpoint file {file} is truncated or corrupt ({first_line(error)}). "
                       f"Restore it from a copy{advice}.")


def read_checkpoint_tensor(path: str, key: str) -> np.ndarray | None:
    """One tensor of a checkpoint (None if it has no `key`), without restoring anything.

    Args:
        path: the checkpoint's path prefix (`.../checkpoints/ckpt-5`).
        key: the tensor's checkpoint key (`step/.ATTRIBUTES/VARIABLE_VALUE`).

    Raises:
        ConfigError: the index or the data file is truncated or corrupt, naming it.
    """
    try:
        reader = tf.train.load_checkpoint(path)
    except tf.errors.OpError as error:  # "not an sstable (bad magic number)", "too short"
        raise corrupt_checkpoint_error(path, f"{path}.index", error) from None
    if not reader.has_tensor(key):
        return None
    try:
        return reader.get_tensor(key)
    except DATA_READ_ERRORS as error:
        raise corrupt_checkpoint_error(path, data_files(path), error) from None


def data_files(path: str) -> str:
    """The name of a checkpoint's data file (its pattern when it has several shards)."""
    shards = sorted(glob.glob(f"{glob.escape(path)}.data-*"))
    return shards[0] if len(shards) == 1 else f"{path}.data-*"


def checkpoint_model_paths(path: str) -> set[str]:
    """The variable paths (`texture_generator/trunk/down0/conv/kernel`, ...) a checkpoint
    holds under `model_weights`, read from its object graph.

    Raises:
        ConfigError: the checkpoint's files are truncated or corrupt.
    """
    serialized = read_checkpoint_tensor(path, OBJECT_GRAPH_KEY)
    if serialized is None:
        return set()
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(serialized)
    for child in graph.nodes[0].children:
        if child.local_name == "model_weights":
            return {c.local_name for c in graph.nodes[child.node_id].children}
    return set()
