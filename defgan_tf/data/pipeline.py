"""The tf.data input pipeline: faces in [-1, 1] with source AUs and sampled target AUs.

Order of work (DESIGN.md §4): shard (one shard per input pipeline under tf.distribute)
→ shuffle → read + decode + centre-crop + resize (undecodable images dropped) → repeat
→ scale → random horizontal flip → random translation (`jitter`) → batch → target AUs =
the AUs of a random permutation of the batch + U(−n, n), clipped to [0, 1] → prefetch.
Every random draw is a stateless op keyed on (seed, input pipeline, element or batch
number), so a seed fixes the whole stream.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from defgan_tf.config import Config, DataConfig
from defgan_tf.data.images import decode_image
from defgan_tf.data.readers import DatasetError, DatasetIndex, read_dataset
from defgan_tf.data.tfrecord import parse_example

_FLIP_STREAM, _TARGET_STREAM, _JITTER_STREAM = 1, 2, 3


def _resize(image: tf.Tensor, size: int) -> tf.Tensor:
    """Centre-crops to a square (aligned crops already are) and resizes to `size`²."""
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    image = tf.image.crop_to_bounding_box(
        image, (shape[0] - side) // 2, (shape[1] - side) // 2, side, side)
    image = tf.cond(
        tf.equal(side, size),
        lambda: image,
        lambda: tf.image.resize(image, [size, size], method="bilinear", antialias=True),
    )
    image.set_shape([size, size, 3])
    return tf.clip_by_value(image, 0.0, 1.0)


def _key(seed: int, stream: int, pipeline: int, counter: tf.Tensor) -> tf.Tensor:
    base = tf.constant([seed, stream * 1_000_003 + pipeline], tf.int64)
    return tf.random.experimental.stateless_fold_in(base, tf.cast(counter, tf.int64))


def _translate(image: tf.Tensor, jitter: int, key: tf.Tensor) -> tf.Tensor:
    """Shifts the face by up to `jitter` pixels each way; edges are mirrored in."""
    size = image.shape[0]
    padded = tf.pad(image, [[jitter, jitter], [jitter, jitter], [0, 0]], mode="REFLECT")
    return tf.image.stateless_random_crop(padded, [size, size, 3], key)


def _augment_fn(flip: bool, jitter: int, seed: int, pipeline: int):
    """Flip and shift keyed on the element's number in the stream, so a seed fixes them."""

    def face(number: tf.Tensor, image: tf.Tensor, aus: tf.Tensor) -> dict[str, tf.Tensor]:
        if flip:
            coin = tf.random.stateless_uniform([], _key(seed, _FLIP_STREAM, pipeline, number))
            image = tf.cond(coin < 0.5, lambda: tf.reverse(image, axis=[1]), lambda: image)
        if jitter:
            image = _translate(image, jitter, _key(seed, _JITTER_STREAM, pipeline, number))
        return {"image": image * 2.0 - 1.0, "source_aus": aus}

    return face


def _no_image_decoded(faces: tf.data.Dataset, root: str, pipelines: int) -> tf.data.Dataset:
    """One element that fails when read, for the end of a repeated stream.

    `repeat` ends the stream at a pass that yields nothing: here, one in which every
    image failed to decode and `ignore_errors` dropped it (a corrupt dataset read with
    validate=False, or files gone since). Training would otherwise wait forever.
    """
    shard = " (this input pipeline's shard of it)" if pipelines > 1 else ""
    message = (f"the dataset at {root}: no image could be decoded in a whole pass over it"
               f"{shard}; read it with validate=True (the default) to list the bad files.")

    def fail(_: tf.Tensor) -> tuple[tf.Tensor, ...]:
        with tf.control_dependencies([tf.debugging.Assert(False, [message])]):
            return tuple(tf.zeros([d or 0 for d in spec.shape], spec.dtype)
                         for spec in faces.element_spec)

    return tf.data.Dataset.range(1).map(fail)


def sample_targets(source_aus: tf.Tensor, key: tf.Tensor, noise: float) -> tf.Tensor:
    """Target AUs for a batch (DESIGN.md §4, GANimation).

    Args:
        source_aus: (B, 17) float32 in [0, 1].
        key: (2,) int64 stateless seed.
        noise: half-width n of the U(−n, n) noise.

    Returns:
        (B, 17) float32 in [0, 1]: row i is source row perm[i] + noise, clipped, for a
        random permutation perm of the batch.
    """
    count = tf.shape(source_aus)[0]
    perm_key, noise_key = tf.unstack(tf.random.experimental.stateless_split(key, 2))
    perm = tf.argsort(tf.random.stateless_uniform([count], perm_key))
    jitter = tf.random.stateless_uniform(tf.shape(source_aus), noise_key, -noise, noise)
    return tf.clip_by_value(tf.gather(source_aus, perm) + jitter, 0.0, 1.0)


_Elements = tuple[tf.data.Dataset, Callable[..., tuple[tf.Tensor, tf.Tensor]]]


def _index_elements(index: DatasetIndex, pipelines: int, pipeline: int, training: bool,
                    seed: int) -> _Elements:
    """Paths and a reader of (encoded bytes, aus); the path list is shuffled whole (cheap)."""
    if len(index) < pipelines:
        raise DatasetError(f"{index.root}: {len(index)} images cannot feed {pipelines} input "
                           "pipelines (one per worker/replica); use more data.")
    paths = tf.data.Dataset.from_tensor_slices((index.paths, index.aus))
    paths = paths.shard(pipelines, pipeline)
    if training:
        paths = paths.shuffle(len(index) // pipelines + 1, seed=seed,
                              reshuffle_each_iteration=True)
    return paths, lambda path, aus: (tf.io.read_file(path), aus)


def _record_elements(index: DatasetIndex, pipelines: int, pipeline: int, training: bool,
                     seed: int, shuffle_buffer: int) -> _Elements:
    """Records and their parser; sharded by file when there are enough files."""
    files = tf.data.Dataset.from_tensor_slices(index.shards)
    by_file = len(index.shards) >= pipelines
    if by_file:
        files = files.shard(pipelines, pipeline)
    if training:
        files = files.shuffle(len(index.shards), seed=seed, reshuffle_each_iteration=True)
    records = files.interleave(
        tf.data.TFRecordDataset, cycle_length=min(len(index.shards), 8),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if not by_file:
        records = records.shard(pipelines, pipeline)
    if training:
        records = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return records, parse_example


def make_dataset(
    source: DatasetIndex | DataConfig | str,
    image_size: int,
    batch_size: int,
    *,
    training: bool = True,
    flip: bool = True,
    jitter: int = 0,
    target_noise: float = 0.1,
    shuffle_buffer: int = 2048,
    seed: int = 0,
    input_context: tf.distribute.InputContext | None = None,
    repeat: bool = True,
    split: str = "train",
) -> tf.data.Dataset:
    """Builds the batched training (or evaluation) stream.

    Args:
        source: a DatasetIndex (readers.read_dataset), a DataConfig (read here, with
            `split`), or a TFRecord folder/glob.
        image_size: output side S in pixels.
        batch_size: global batch; each input pipeline yields
            `input_context.get_per_replica_batch_size(batch_size)`.
        training: shuffle, flip (if `flip`) and drop the last partial batch.
        flip: random horizontal flip with p = 0.5 while training (AUs unchanged).
        jitter: while training, shift each face by a random whole number of pixels in
            [−jitter, jitter] along each axis (AUs unchanged).
        target_noise: half-width of the U(−n, n) noise on sampled target AUs.
        shuffle_buffer: record shuffle buffer for TFRecords (image folders shuffle their
            whole path list, which costs only the strings).
        seed: fixes shuffling, flips, shifts and target sampling.
        input_context: from `strategy.distribute_datasets_from_function`; this pipeline
            reads shard `input_pipeline_id` of `num_input_pipelines`.
        repeat: repeat forever (training); False gives one pass.
        split: train | test | all, used when `source` is a DataConfig or a path.

    Returns:
        Dataset of dicts: "image" (B, S, S, 3) float32 in [-1, 1]; "source_aus" and
        "target_aus" (B, 17) float32 in [0, 1]. Undecodable images that slipped past
        validation are dropped (tf.data ignore_errors, logged), never a crash.

    Raises:
        DatasetError: the dataset is empty (with the read report saying why), or too
            small to shard.
        tf.errors.InvalidArgumentError: when iterated with `repeat`, a whole pass
            decoded no image (the message names the dataset); without this check the
            repeated stream would drop errors forever and never yield.
    """
    if isinstance(source, DataConfig):
        index = read_dataset(source, split=split)
    elif isinstance(source, str):
        index = read_dataset(source, "tfrecord", split)
    else:
        index = source
    if len(index) == 0:
        raise DatasetError(f"the dataset at {index.root} has no usable image for split "
                           f"'{split}'. What the reader left out:\n{index.report.summary()}")
    pipelines, pipeline = 1, 0
    per_replica_batch = batch_size
    if input_context is not None:
        pipelines, pipeline = input_context.num_input_pipelines, input_context.input_pipeline_id
        per_replica_batch = input_context.get_per_replica_batch_size(batch_size)
    if index.shards:
        elements, read = _record_elements(index, pipelines, pipeline, training, seed,
                                          shuffle_buffer)
    else:
        elements, read = _index_elements(index, pipelines, pipeline, training, seed)
    faces = elements.map(read, num_parallel_calls=tf.data.AUTOTUNE).map(
        lambda encoded, aus: (_resize(decode_image(encoded), image_size),
                              tf.cast(aus, tf.float32)),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    ).ignore_errors(log_warning=True)
    if repeat:
        # Errors are dropped within each pass, so a pass with no image ends `repeat`.
        faces = faces.repeat().concatenate(_no_image_decoded(faces, index.root, pipelines))
    augment = _augment_fn(flip and training, jitter if training else 0, seed, pipeline)
    faces = faces.enumerate().map(
        lambda number, item: augment(number, *item), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    batches = faces.batch(per_replica_batch, drop_remainder=training).enumerate().map(
        lambda number, batch: {**batch, "target_aus": sample_targets(
            batch["source_aus"], _key(seed, _TARGET_STREAM, pipeline, number), target_noise)},
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    options = tf.data.Options()
    options.deterministic = True
    return batches.prefetch(tf.data.AUTOTUNE).with_options(options)


def make_dataset_from_config(
    config: Config,
    split: str = "train",
    input_context: tf.distribute.InputContext | None = None,
    *,
    training: bool | None = None,
    index: DatasetIndex | None = None,
    batch_size: int | None = None,
    repeat: bool | None = None,
) -> tf.data.Dataset:
    """make_dataset with `data.*`, `model.image_size`, `train.batch_size` and `train.seed`.

    Args:
        config: the resolved config.
        split: train | test | all.
        input_context: see make_dataset.
        training: None = (split == "train").
        index: an already read DatasetIndex (read once, shared by every replica's
            pipeline); None reads `config.data` for `split`.
        batch_size: None = train.batch_size.
        repeat: None = training.

    Returns:
        See make_dataset.
    """
    training = split == "train" if training is None else training
    data = config.data
    return make_dataset(
        index if index is not None else data,
        config.model.image_size,
        batch_size or config.train.batch_size,
        training=training,
        flip=data.flip,
        jitter=data.jitter_px,
        target_noise=data.target_noise,
        shuffle_buffer=data.shuffle_buffer,
        seed=config.train.seed,
        input_context=input_context,
        repeat=training if repeat is None else repeat,
        split=split,
    )
