"""Sharded TFRecords of faces: encoded image bytes, 17 AU floats and the source file name.

Records keep the original encoded bytes (no re-encoding, no quality loss); the
pipeline decodes them with the same `images.decode_image` as image folders. Shards are
named `<split>-00000-of-00004.tfrecord`; `dataset.json` beside them records counts and
the read report, so the number of examples is known without a pass over the data.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from defgan_tf.aus import NUM_AUS

METADATA_FILE = "dataset.json"
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
        return sorted(tf.io.gfile.glob(path))
    patterns = ["*.tfrecord"] if split == "all" else [f"{split}-*.tfrecord", "all-*.tfrecord"]
    for pattern in patterns:
        files = sorted(tf.io.gfile.glob(posixpath.join(path, pattern)))
        if files:
            return files
    return []


def count_records(files: list[str]) -> int:
    """Examples in `files`: from dataset.json when it describes them, else by reading."""
    folder = posixpath.dirname(files[0])
    meta_path = posixpath.join(folder, METADATA_FILE)
    if tf.io.gfile.exists(meta_path):
        with tf.io.gfile.GFile(meta_path) as handle:
            counts = json.load(handle).get("shards", {})
        if all(posixpath.basename(f) in counts for f in files):
            return sum(counts[posixpath.basename(f)] for f in files)
    return sum(1 for _ in tf.data.TFRecordDataset(files))
