"""`defgan-data`: convert a dataset to sharded TFRecords, or detect/align/crop raw photos.

    defgan-data tfrecord --in DATASET --out FOLDER --shards 16 [--format openface]
    defgan-data faces --in RAW --out CROPS --size 128 [--detector hog]

User mistakes, and files that cannot be read or written, print one message and exit
with status 2 (no traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import tensorflow as tf
from tqdm import tqdm

from defgan_tf.config import ConfigError
from defgan_tf.data.images import error_reason
from defgan_tf.data.readers import DatasetError, available_splits, read_dataset
from defgan_tf.data.tfrecord import conversion_folder, write_metadata, write_shards

INPUT_FORMATS = ("openface", "ganimation", "manifest")


def _check_output_folder(path: str) -> None:
    """Before the slow part: an --out that names a file would fail only at the first write."""
    if tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path):
        raise ConfigError(f"--out {path} is a file; give a folder.")


def _tfrecord(args: argparse.Namespace) -> None:
    """Validates the dataset and writes train/test (or all) shards + dataset.json.

    The output replaces any earlier conversion in --out, and only once this one is
    complete (tfrecord.conversion_folder).
    """
    _check_output_folder(args.output)
    shards, report = {}, None
    with conversion_folder(args.output) as staging:
        for split in available_splits(args.input, args.format):
            index = read_dataset(args.input, args.format, split,
                                 min_confidence=args.min_confidence, strict=args.strict)
            # Row problems are the same for every split; undecodable images differ.
            if report is None:
                report = index.report
            else:
                report.bad_images += index.report.bad_images
            if not len(index):
                print(f"{split}: no usable image, no shard written.", file=sys.stderr)
                continue
            with tqdm(total=len(index), desc=f"{split} → TFRecord", unit="img") as bar:
                shards.update(write_shards(index.paths, index.aus, staging, split,
                                           args.shards, bar.update))
        if not shards:
            raise DatasetError(f"{args.input}: no usable image to write.\n{report.summary()}")
        write_metadata(staging, {"source": args.input, "format": args.format,
                                 "shards": shards, "report": report.to_dict()})
    print(report.summary())
    print(f"wrote {sum(shards.values())} records in {len(shards)} shard(s) to {args.output}")


def _faces(args: argparse.Namespace) -> None:
    """Runs defgan_tf.data.faces (needs the `faces` extra for dlib's detectors)."""
    try:
        from defgan_tf.data.faces import FaceError, prepare_face_crops
    except ImportError as error:
        raise ConfigError(f"faces: cannot import the face tools ({error}). Install the "
                          "extra: pip install -e '.[faces]'") from None
    _check_output_folder(args.output)
    try:
        report = prepare_face_crops(args.input, args.output, args.size, args.detector)
    except FaceError as error:
        raise ConfigError(f"faces: {error}") from None
    print(report.summary())


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, received {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="defgan-data", description="Prepare face datasets for DefGAN (docs/data.md).")
    commands = parser.add_subparsers(dest="command", required=True)
    tfrecord = commands.add_parser(
        "tfrecord", help="validate a dataset and write sharded TFRecords",
        description="Reads a dataset (decoding every image once), writes "
        "<split>-NNNNN-of-NNNNN.tfrecord shards and dataset.json with the skip report.")
    tfrecord.add_argument("--in", dest="input", required=True,
                          help="dataset folder, or CSV file for --format manifest")
    tfrecord.add_argument("--out", dest="output", required=True, help="output folder")
    tfrecord.add_argument("--shards", type=_positive_int, default=8,
                          help="files per split (default 8)")
    tfrecord.add_argument("--format", choices=INPUT_FORMATS, default="openface",
                          help="input layout (default openface)")
    tfrecord.add_argument("--min-confidence", type=float, default=0.0,
                          help="skip OpenFace rows below this confidence")
    tfrecord.add_argument("--strict", action="store_true",
                          help="a bad AU row (NaN, negative, > 5) is an error, not skipped")
    tfrecord.set_defaults(run=_tfrecord)
    faces = commands.add_parser(
        "faces", help="detect, align (5 points) and crop faces (needs the faces extra)",
        description="Crops every face of every image under --in, aligned with the "
        "convention the editor uses to paste edits back.")
    faces.add_argument("--in", dest="input", required=True, help="folder of raw photos")
    faces.add_argument("--out", dest="output", required=True, help="folder for the crops")
    faces.add_argument("--size", type=_positive_int, default=128, help="crop side in pixels (128)")
    faces.add_argument("--detector", default="hog", help="hog (default), cnn or haar")
    faces.set_defaults(run=_faces)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point `defgan-data`; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ConfigError, OSError) as error:
        print(f"defgan-data {args.command}: error: {error}", file=sys.stderr)
        return 2
    except tf.errors.OpError as error:  # tf.io.gfile's OSError (local folders, gs://)
        print(f"defgan-data {args.command}: error: {error_reason(error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
