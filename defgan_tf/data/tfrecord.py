"""Sharded TFRecords of faces: encoded image bytes, 17 AU floats and the source file name.

Records keep the original encoded bytes (no re-encoding, no quality loss); the
pipeline decodes them with the same `images.decode_image` as image folders. Shards are
named `<split>-00000-of-00004.tfrecord`; `dataset.json` beside them records counts and
the read report, so the number of examples is known without a pass over the data.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import re
import uuid
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from defgan_tf.aus import NUM_AUS
from defgan_tf.data.images import error_reason

METADATA_FILE = "dataset.json"
_SHARD_NAME = re.compile(r"(train|test|all)-\d{5,}-of-\d{5,}\.tfrecord")
"""What `shard_name` writes: the only files `conversion_folder` removes."""
FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "aus": tf.io.FixedLenFeature([NUM_AUS], tf.float32),
    "filename": tf.io.FixedLenFeature([], tf.string),
}
"""image: encoded PNG/JPEG/BMP bytes; aus: [0, 1] (OpenFace / 5); filename: source path."""


def encode_example(image_bytes: bytes, aus: np.ndarray, filename: str) -> bytes:
    """One serialized tf.train.Example (see FEATURES)."""
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_bytes])),
        "aus": tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(aus).tolist())),
        "filename": tf.train.Feature(bytes_list=tf.train.BytesList(value=[filename.encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse_example(record: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Serialized example → (encoded image scalar tf.string, aus (17,) float32)."""
    parsed = tf.io.parse_single_example(record, FEATURES)
    return parsed["image"], parsed["aus"]


def shard_name(split: str, shard: int, num_shards: int) -> str:
    return f"{split}-{shard:05d}-of-{num_shards:05d}.tfrecord"


def write_shards(paths: Sequence[str], aus: np.ndarray, out_dir: str, split: str,
                 num_shards: int, progress: Callable[[int], None] | None = None
                 ) -> dict[str, int]:
    """Writes images round-robin into `num_shards` TFRecord files.

    Args:
        paths: validated image files (readers.read_dataset's index.paths).
        aus: (N, 17) float32 in [0, 1], their AUs.
        out_dir: output folder (local or gs://), created if needed.
        split: the file-name prefix (train, test or all).
        num_shards: number of files; more shards than hosts × cores lets tf.data read
            them in parallel and shard them across workers.
        progress: called with 1 after each image (e.g. a tqdm's update).

    Returns:
        Shard file name → number of records (never more shards than images).
    """
    num_shards = max(1, min(num_shards, len(paths)))
    tf.io.gfile.makedirs(out_dir)
    names = [shard_name(split, i, num_shards) for i in range(num_shards)]
    writers = [tf.io.TFRecordWriter(posixpath.join(out_dir, name)) for name in names]
    try:
        for i, (path, values) in enumerate(zip(paths, aus)):
            with tf.io.gfile.GFile(path, "rb") as handle:
                data = handle.read()
            writers[i % num_shards].write(encode_example(data, values, path))
            if progress is not None:
                progress(1)
    finally:
        for writer in writers:
            writer.close()
    return {name: len(range(i, len(paths), num_shards)) for i, name in enumerate(names)}


def write_metadata(out_dir: str, metadata: dict) -> None:
    with tf.io.gfile.GFile(posixpath.join(out_dir, METADATA_FILE), "w") as handle:
        handle.write(json.dumps(metadata, indent=1))


@contextlib.contextmanager
def conversion_folder(out_dir: str) -> Iterator[str]:
    """Yields a hidden folder inside `out_dir` to write one conversion into, then swaps it in.

    A conversion into a folder holding an earlier one must replace it, not add to it
    (`--shards 8` then `--shards 3` would otherwise leave 11 shards, every image read
    twice), and one that fails half-way must not leave a mix of the two. So shards and
    dataset.json are written aside; once all are complete, the earlier dataset.json and
    shards (`<split>-NNNNN-of-NNNNN.tfrecord`; no other file is touched) are removed and
    the new files moved in, dataset.json last. On an exception (Ctrl-C included) the
    hidden folder is removed and `out_dir` keeps the earlier conversion.

    Args:
        out_dir: the output folder (local or gs://), created here, before the slow part.

    Yields:
        The hidden folder to pass to `write_shards` and `write_metadata`.
    """
    staging = posixpath.join(out_dir, f".partial-{uuid.uuid4().hex[:8]}")
    tf.io.gfile.makedirs(staging)
    try:
        yield staging
        earlier = [name for name in tf.io.gfile.listdir(out_dir)
                   if name == METADATA_FILE or _SHARD_NAME.fullmatch(name)]
        for name in sorted(earlier, key=lambda name: name != METADATA_FILE):
            tf.io.gfile.remove(posixpath.join(out_dir, name))
        for name in sorted(tf.io.gfile.listdir(staging), key=lambda name: name == METADATA_FILE):
            tf.io.gfile.rename(posixpath.join(staging, name), posixpath.join(out_dir, name))
    finally:
        tf.io.gfile.rmtree(staging)


def find_shards(path: str, split: str) -> list[str]:
    """The TFRecord files of a split.

    Args:
        path: a folder written by `defgan-data tfrecord`, or a glob (`gs://b/x-*.tfrecord`),
            used as given.
        split: train | test | all. In a folder: `<split>-*.tfrecord`, else `all-*`
            (a dataset without split files), and for "all" every `*.tfrecord`.

    Returns:
        Sorted file paths; empty when nothing matches.
    """
    if not tf.io.gfile.isdir(path):
        # `records/*` also matches dataset.json (and folders): they hold no records.
        return sorted(file for file in tf.io.gfile.glob(path)
                      if posixpath.basename(file) != METADATA_FILE
                      and not tf.io.gfile.isdir(file))
    patterns = ["*.tfrecord"] if split == "all" else [f"{split}-*.tfrecord", "all-*.tfrecord"]
    for pattern in patterns:
        files = sorted(tf.io.gfile.glob(posixpath.join(path, pattern)))
        if files:
            return files
    return []


def count_records(files: list[str]) -> int:
    """Examples in `files`: from dataset.json when it describes them, else by reading.

    Raises:
        ValueError: a file cannot be read as TFRecords (not one, truncated); names it.
    """
    folder = posixpath.dirname(files[0])
    meta_path = posixpath.join(folder, METADATA_FILE)
    if tf.io.gfile.exists(meta_path):
        with tf.io.gfile.GFile(meta_path) as handle:
            counts = json.load(handle).get("shards", {})
        if all(posixpath.basename(f) in counts for f in files):
            return sum(counts[posixpath.basename(f)] for f in files)
    total = 0
    for file in files:  # one at a time: TensorFlow's error does not say which file failed
        try:
            total += sum(1 for _ in tf.data.TFRecordDataset(file))
        except tf.errors.OpError as error:
            raise ValueError(f"{file}: cannot be read as TFRecords ({error_reason(error)})"
                             ) from None
    return total
