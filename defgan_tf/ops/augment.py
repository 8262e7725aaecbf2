"""Differentiable augmentation of the critic's inputs (DiffAugment, Zhao et al. 2020).

With a few thousand training faces the critic's AU head fits them closely (squared AU
error 0.002 on training faces against 0.019 on held-out ones at the end of
`configs/synthetic.yaml`), and the generator learns edits that head credits and an
independent AU regressor does not (docs/tuning.md, "Where the AU error is left").
DiffAugment applies the same random family of transforms to every image the critic
sees, real and generated, in the critic's and the generator's updates; the transforms
are differentiable, so the generator is trained through them. A colour shift and a
translation do not change a face's AUs, so the AU labels stay valid.

The policy is DiffAugment's `color,translation` on images in [-1, 1]: brightness
+U(-0.5, 0.5), saturation ×U(0, 2), contrast ×U(0.5, 1.5), each per image, then an
integer shift of up to 1/8 of the side along each axis with zero (grey) padding.
"""

from __future__ import annotations

import tensorflow as tf

from defgan_tf.ops.grids import flow_px_to_grid
from defgan_tf.ops.warp import warp

TRANSLATION_FRACTION = 0.125
"""Largest shift as a share of the image side (DiffAugment's default)."""


def adjust_color(images: tf.Tensor, brightness: tf.Tensor, saturation: tf.Tensor,
                 contrast: tf.Tensor) -> tf.Tensor:
    """Brightness, then saturation, then contrast, with one factor per image.

    Args:
        images: (B, H, W, 3) float in [-1, 1].
        brightness: (B,) added to every value.
        saturation: (B,) scales each pixel's distance from its channel mean.
        contrast: (B,) scales each value's distance from the image mean.

    Returns:
        (B, H, W, 3) float32 (not clipped: DiffAugment's transforms are linear).
    """
    images = tf.cast(images, tf.float32)
    per_image = (-1, 1, 1, 1)
    images = images + tf.reshape(brightness, per_image)
    grey = tf.reduce_mean(images, axis=-1, keepdims=True)
    images = (images - grey) * tf.reshape(saturation, per_image) + grey
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * tf.reshape(contrast, per_image) + mean


def translate(images: tf.Tensor, shifts_px: tf.Tensor) -> tf.Tensor:
    """Shifts each image by whole pixels, reading zeros where it leaves the frame.

    Args:
        images: (B, H, W, C) float.
        shifts_px: (B, 2) (dx, dy): the content moves right by dx and down by dy.

    Returns:
        (B, H, W, C) float32.
    """
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    # warp reads each output pixel at (x, y) + flow, so moving content by +d reads at −d.
    flow = -tf.cast(shifts_px, tf.float32)[:, None, None, :]
    flow = tf.broadcast_to(flow, tf.stack([shape[0], shape[1], shape[2], 2]))
    return warp(images, flow_px_to_grid(flow), padding="zeros")


def diff_augment(images: tf.Tensor, rng: tf.random.Generator) -> tf.Tensor:
    """DiffAugment's `color,translation`, drawn from `rng` (see the module docstring).

    Args:
        images: (B, H, W, 3) float in [-1, 1], static height and width.
        rng: the model's checkpointed generator, so a resumed run draws the same.

    Returns:
        (B, H, W, 3) float32.
    """
    batch = tf.shape(images)[0]
    colored = adjust_color(images, rng.uniform([batch], -0.5, 0.5),
                           rng.uniform([batch], 0.0, 2.0), rng.uniform([batch], 0.5, 1.5))
    largest = int(images.shape[1] * TRANSLATION_FRACTION + 0.5)
    shifts = rng.uniform([batch, 2], -largest, largest + 1, dtype=tf.int32)
    return translate(colored, shifts)
