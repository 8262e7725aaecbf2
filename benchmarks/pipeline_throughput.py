"""Input pipeline throughput (images/s) from a PNG folder and from TFRecords.

Prints one JSON object. The data are synthetic faces (`defgan_tf.data.synthetic`)
rendered at the training size into a temporary folder, read as an OpenFace folder,
then converted to TFRecord shards; both streams run the full training pipeline
(decode, resize, flip, batch, target sampling) and are timed after a warm-up. Also
timed: the one-off validation pass `read_dataset` makes over a folder.

    python benchmarks/pipeline_throughput.py [--count 1000] [--size 128] [--batch 25]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

from defgan_tf.arguments import positive_int
from defgan_tf.data.images import find_undecodable
from defgan_tf.data.pipeline import make_dataset
from defgan_tf.data.readers import read_dataset
from defgan_tf.data.synthetic import write_dataset
from defgan_tf.data.tfrecord import write_shards


def images_per_second(dataset: tf.data.Dataset, batch: int, batches: int) -> float:
    """Faces per second over `batches` batches, after `batches // 5` warm-up batches."""
    iterator = iter(dataset)
    for _ in range(max(2, batches // 5)):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batch * batches / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=positive_int, default=1000, help="faces rendered")
    parser.add_argument("--size", type=positive_int, default=128, help="image side")
    parser.add_argument("--batch", type=positive_int, default=25, help="batch size")
    parser.add_argument("--batches", type=positive_int, default=120,
                        help="timed batches per stream")
    parser.add_argument("--shards", type=positive_int, default=8, help="TFRecord shards")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "faces")
        write_dataset(folder, count=args.count, size=args.size, seed=0, progress=False)
        start = time.perf_counter()
        index = read_dataset(folder, "synthetic", "all", validate=False)
        read_s = time.perf_counter() - start
        start = time.perf_counter()
        find_undecodable(index.paths)
        validate_s = time.perf_counter() - start
        records = os.path.join(tmp, "records")
        write_shards(index.paths, index.aus, records, "all", args.shards)
        kwargs = {"image_size": args.size, "batch_size": args.batch, "seed": 0}
        result = {
            "benchmark": "pipeline_throughput",
            "images": len(index),
            "image_size": args.size,
            "batch": args.batch,
            "cpus": os.cpu_count(),
            "tensorflow": tf.__version__,
            "machine": platform.processor() or platform.machine(),
            "read_index_s": round(read_s, 3),
            "validate_images_per_s": round(len(index) / validate_s, 1),
            "png_folder_images_per_s": round(images_per_second(
                make_dataset(index, **kwargs), args.batch, args.batches), 1),
            "tfrecord_images_per_s": round(images_per_second(
                make_dataset(records, split="all", **kwargs), args.batch, args.batches), 1),
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
