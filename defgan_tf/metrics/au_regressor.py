"""An independent AU regressor: the judge of `au_error`, trained apart from the critic.

The critic's AU head is what the generator was trained to please, so scoring edits with
it rewards whatever fools it. This is a separate, small CNN (conv-BN-ReLU stages, global
average pooling, a sigmoid head) with its own weights, trained with MSE on (image, AUs)
pairs of a labelled dataset: `python -m defgan_tf.metrics.au_regressor --data DIR --out
FILE` writes `FILE` (a `.keras` model) and `FILE.json` (image size, AU order, training
data, held-out MAE next to the "predict the training mean" baseline).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Training this CNN is mostly convolution gradients, as training DefGAN is, so its command
# turns oneDNN on as `python -m defgan_tf.train` does (the reason is there). The switch
# only counts when this module is what loads TensorFlow, i.e. for its own command; the
# evaluation imports it after the model and keeps TensorFlow's default.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import keras
import numpy as np
import tensorflow as tf

from defgan_tf import files
from defgan_tf.aus import AU_CODES, NUM_AUS
from defgan_tf.config import DATA_FORMATS
from defgan_tf.data.readers import DatasetError, available_splits, read_dataset
from defgan_tf.metrics.au_error import mae_per_au
from defgan_tf.metrics.edit_set import load_arrays

SIDECAR_SUFFIX = ".json"
SIDECAR_VERSION = 1
ARCHITECTURE = "conv-bn-relu x2 per stage, global average pooling, sigmoid head"
STAGES = 4


def sidecar_path(model_path: str | Path) -> Path:
    """`regressor.keras` → `regressor.keras.json` (the metadata written next to it)."""
    return Path(f"{model_path}{SIDECAR_SUFFIX}")


def smallest_image_size(stages: int = STAGES) -> int:
    """The smallest input side that `stages` stride-2 stages still leave 2×2 pixels of."""
    return 2 ** (stages + 1)


def build_au_regressor(image_size: int, width: int = 24, stages: int = STAGES) -> keras.Model:
    """The regressor's network: `stages` halvings, each conv(3×3, s2)-BN-ReLU then
    conv(3×3)-BN-ReLU, channel width doubling from `width`; then global average pooling
    and a dense sigmoid head (AUs live in [0, 1]).

    Args:
        image_size: input side S (S / 2**stages must be ≥ 2).
        width: channels of the first stage.
        stages: number of stride-2 stages.

    Returns:
        An uncompiled Keras model: (B, S, S, 3) in [-1, 1] → (B, 17) in [0, 1].
    """
    if width < 1 or stages < 1:
        raise ValueError(f"width and stages must be ≥ 1. Received: width={width}, "
                         f"stages={stages}")
    if image_size < smallest_image_size(stages):
        raise ValueError(f"image_size={image_size} is too small for {stages} stride-2 "
                         f"stages (needs ≥ {smallest_image_size(stages)}).")
    images = keras.Input((image_size, image_size, 3), name="image")
    x = images
    for stage in range(stages):
        for block, stride in enumerate((2, 1)):
            x = keras.layers.Conv2D(width * 2**stage, 3, strides=stride, padding="same",
                                    use_bias=False, name=f"stage{stage}_conv{block}")(x)
            x = keras.layers.BatchNormalization(name=f"stage{stage}_bn{block}")(x)
            x = keras.layers.ReLU(name=f"stage{stage}_relu{block}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    aus = keras.layers.Dense(NUM_AUS, activation="sigmoid", name="aus")(x)
    return keras.Model(images, aus, name="au_regressor")


def _splits(data_dir: str, format: str, image_size: int, val_fraction: float):
    """(train images, train AUs, val images, val AUs, how the split was made)."""
    if available_splits(data_dir, format) == ("train", "test"):
        train = load_arrays(read_dataset(data_dir, format, "train"), image_size)
        val = load_arrays(read_dataset(data_dir, format, "test"), image_size)
        return (*train, *val, "test split (test_ids.csv)")
    images, aus = load_arrays(read_dataset(data_dir, format, "all"), image_size)
    every = max(2, round(1 / val_fraction))
    held = np.arange(len(images)) % every == 0
    return (images[~held], aus[~held], images[held], aus[held],
            f"every {every}th image (no train_ids.csv / test_ids.csv)")


def train_au_regressor(data_dir: str | Path, out_path: str | Path, image_size: int = 64,
                       epochs: int = 12, *, format: str = "synthetic", batch_size: int = 32,
                       width: int = 24, learning_rate: float = 3e-3, val_fraction: float = 0.1,
                       seed: int = 0, verbose: int = 0) -> dict:
    """Trains the regressor and writes `out_path` (.keras) and its JSON sidecar.

    Adam with a cosine-decayed learning rate on the MSE between predicted and labelled
    AUs, random horizontal flips (held-out MAE 0.076 instead of 0.086 on the quickstart
    data); validation on the dataset's test split (held-out identities for synthetic
    data), else on every 1/val_fraction-th image.

    Args:
        data_dir: a dataset any `read_dataset` format reads.
        out_path: where to save the model; must end with `.keras`.
        image_size: side S the faces are resized to (use the size you will evaluate at;
            `AURegressor.predict` resizes other sizes).
        epochs: passes over the training images.
        format: the dataset format (one of config.DATA_FORMATS).
        batch_size: images per step.
        width: channels of the first stage (see build_au_regressor).
        learning_rate: initial Adam learning rate.
        val_fraction: held-out share when the dataset has no split files.
        seed: weight initialisation and shuffling.
        verbose: Keras fit verbosity.

    Returns:
        The sidecar's contents (also written to `sidecar_path(out_path)`).
    """
    out_path = Path(out_path)
    if out_path.suffix != ".keras":
        raise ValueError(f"out_path must end with .keras (Keras' native format). "
                         f"Received: {out_path}")
    if epochs < 1:
        raise ValueError(f"epochs must be ≥ 1. Received: epochs={epochs}")
    train_x, train_y, val_x, val_y, split = _splits(str(data_dir), format, image_size,
                                                     val_fraction)
    if len(train_x) == 0 or len(val_x) == 0:
        raise DatasetError(f"{data_dir}: need training and held-out images; found "
                           f"{len(train_x)} and {len(val_x)}.")
    keras.utils.set_random_seed(seed)
    model = build_au_regressor(image_size, width)
    steps = epochs * math.ceil(len(train_x) / batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.02)
    model.compile(keras.optimizers.Adam(schedule), loss="mse", metrics=["mae"])
    # AUs carry no side, so a mirrored face has the same labels: flips double the faces.
    batches = tf.data.Dataset.from_tensor_slices((train_x, train_y)) \
        .shuffle(len(train_x), seed=seed) \
        .map(lambda image, aus: (tf.image.random_flip_left_right(image, seed=seed), aus)) \
        .batch(batch_size).prefetch(2)
    start = time.perf_counter()
    model.fit(batches, epochs=epochs, shuffle=False, verbose=verbose)  # shuffled above
    seconds = time.perf_counter() - start
    predicted = model.predict(val_x, batch_size=256, verbose=0)
    baseline = np.broadcast_to(train_y.mean(axis=0), val_y.shape)
    info = {
        "version": SIDECAR_VERSION,
        "architecture": ARCHITECTURE,
        "width": width,
        "parameters": int(model.count_params()),
        "image_size": image_size,
        "image_range": [-1.0, 1.0],
        "au_codes": list(AU_CODES),
        "data": {"path": str(data_dir), "format": format, "train_images": len(train_x),
                 "val_images": len(val_x), "validation": split},
        "training": {"epochs": epochs, "batch_size": batch_size, "augment": "horizontal flip",
                     "learning_rate": learning_rate, "seed": seed,
                     "seconds": round(seconds, 1)},
        "val_mae": float(np.abs(predicted - val_y).mean()),
        "val_mae_mean_baseline": float(np.abs(baseline - val_y).mean()),
        "val_mae_per_au": mae_per_au(predicted, val_y),
    }
    return save_au_regressor(model, info, out_path)


def save_au_regressor(model: keras.Model, info: dict, path: str | Path) -> dict:
    """Writes `path` (.keras) and its sidecar so that no reader pairs files of two runs.

    Both are written under hidden names and renamed into place one after the other
    (files.written_in_place), so an interrupted save leaves an earlier pair as it was.
    The sidecar records the model file's sha256: should the process stop in the instant
    between the two renames, `load_au_regressor` names the mismatch instead of measuring
    with a model beside another run's image size.

    Args:
        model: the trained network.
        info: the sidecar's contents (see train_au_regressor).
        path: the model file; must end with `.keras`.

    Returns:
        The sidecar as written: `info` and `model_sha256`.
    """
    with files.written_in_place(path) as partial_model:
        model.save(partial_model)  # the hidden name ends in `path`'s, so in the .keras Keras wants
        info = {**info, "model_sha256": _sha256(partial_model)}
        files.write_text(sidecar_path(path), json.dumps(info, indent=2) + "\n")
    return info


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class AURegressor:
    """A trained regressor with its metadata.

    Attributes:
        model: the Keras network.
        info: the sidecar's contents.
    """

    model: keras.Model
    info: dict

    @property
    def image_size(self) -> int:
        """The side the network was trained at."""
        return int(self.info["image_size"])

    def predict(self, images, batch_size: int = 128) -> np.ndarray:
        """AUs measured on faces.

        Args:
            images: (B, H, W, 3) float32 in [-1, 1]; resized to `image_size` when
                H or W differ (bilinear, antialiased).
            batch_size: images per forward pass.

        Returns:
            (B, 17) float32 in [0, 1], AU_CODES order.
        """
        images = tf.convert_to_tensor(images, tf.float32)
        if images.shape.rank != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be (B, H, W, 3). Received shape {images.shape}.")
        if tuple(images.shape[1:3]) != (self.image_size, self.image_size):
            images = tf.image.resize(images, [self.image_size] * 2, antialias=True)
        outputs = [self.model(images[i:i + batch_size], training=False).numpy()
                   for i in range(0, int(images.shape[0]), batch_size)]
        if not outputs:
            return np.zeros((0, NUM_AUS), np.float32)
        return np.concatenate(outputs).astype(np.float32)


def load_au_regressor(path: str | Path) -> AURegressor:
    """Loads a regressor written by `train_au_regressor`.

    Raises:
        FileNotFoundError: the model or its sidecar is missing (says how to train one).
        ValueError: naming the file, when the sidecar or the model cannot be read, or the
            sidecar's AU order is not this version's AU_CODES.
    """
    path = Path(path)
    sidecar = sidecar_path(path)
    for needed in (path, sidecar):
        if not needed.is_file():
            raise FileNotFoundError(
                f"AU regressor file not found: {needed}. Train one with `python -m "
                "defgan_tf.metrics.au_regressor --data DATASET --out FILE.keras`.")
    try:
        info = json.loads(sidecar.read_text(encoding="utf-8"))
    except ValueError as error:  # not JSON, not UTF-8
        raise ValueError(f"{sidecar}: not a regressor sidecar ({error}); retrain the "
                         "regressor.") from None
    if not isinstance(info, dict) or tuple(info.get("au_codes", ())) != AU_CODES:
        codes = info.get("au_codes") if isinstance(info, dict) else None
        raise ValueError(f"{sidecar}: AU order {codes} differs from this version's "
                         f"{list(AU_CODES)}; retrain the regressor.")
    digest = _sha256(path)
    if info.get("model_sha256", digest) != digest:  # older sidecars lack it
        raise ValueError(f"{sidecar} describes another model than {path} (an interrupted "
                         "save?); retrain the regressor.")
    try:
        model = keras.models.load_model(path)
    except ValueError as error:  # Keras says "File not found" of a file that is not a zip
        raise ValueError(f"{path}: not a .keras model Keras can read ({error}); retrain "
                         "the regressor.") from None
    return AURegressor(model, info)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m defgan_tf.metrics.au_regressor --data DIR --out FILE.keras`."""
    parser = argparse.ArgumentParser(
        prog="python -m defgan_tf.metrics.au_regressor",
        description="Train the independent AU regressor that scores edits (au_error).")
    parser.add_argument("--data", required=True, help="labelled dataset folder")
    parser.add_argument("--out", required=True, help="model file to write (.keras)")
    parser.add_argument("--format", default="synthetic", choices=DATA_FORMATS,
                        help="dataset format (default: synthetic)")
    parser.add_argument("--image-size", type=int, default=64,
                        help="side the faces are resized to (default: 64)")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs (default: 12)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step")
    parser.add_argument("--width", type=int, default=24, help="channels of the first stage")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and shuffling")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    args = parser.parse_args(argv)
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size),
                        ("--width", args.width)):
        if value < 1:
            parser.error(f"{flag} must be ≥ 1. Received: {value}")
    if args.image_size < smallest_image_size():
        parser.error(f"--image-size must be ≥ {smallest_image_size()}: the regressor halves "
                     f"it {STAGES} times and needs 2×2 pixels left. Received: {args.image_size}")
    try:
        info = train_au_regressor(args.data, args.out, args.image_size, args.epochs,
                                  format=args.format, batch_size=args.batch_size,
                                  width=args.width, seed=args.seed,
                                  verbose=0 if args.quiet else 2)
    except (ValueError, DatasetError) as error:
        parser.exit(2, f"error: {error}\n")
    print(json.dumps({key: info[key] for key in ("val_mae", "val_mae_mean_baseline")}
                     | {"train_seconds": info["training"]["seconds"],
                        "train_images": info["data"]["train_images"],
                        "val_images": info["data"]["val_images"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
