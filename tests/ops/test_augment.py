"""DiffAugment: each transform against NumPy, the draws' ranges, gradients through it."""

import numpy as np
import tensorflow as tf

from defgan_tf.ops.augment import adjust_color, diff_augment, translate


def _images(n=3, height=8, width=10, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, height, width, 3)).astype(np.float32)


def test_translate_moves_content_by_whole_pixels_and_reads_zeros_outside():
    images = _images()
    shifts = np.array([[2, 0], [0, -3], [-1, 1]], np.int32)  # (dx, dy): right, up, left-down
    expected = np.zeros_like(images)
    for i, (dx, dy) in enumerate(shifts):
        shifted = np.roll(images[i], (dy, dx), axis=(0, 1))
        rows = slice(max(dy, 0), images.shape[1] + min(dy, 0))
        cols = slice(max(dx, 0), images.shape[2] + min(dx, 0))
        expected[i, rows, cols] = shifted[rows, cols]
    np.testing.assert_allclose(translate(images, shifts), expected, atol=1e-6)


def test_adjust_color_matches_numpy_per_image():
    images = _images()
    brightness, saturation, contrast = (np.array(v, np.float32) for v in
                                        ([0.3, -0.2, 0.0], [0.0, 1.5, 1.0], [1.2, 0.5, 1.0]))
    expected = images + brightness[:, None, None, None]
    grey = expected.mean(axis=-1, keepdims=True)
    expected = (expected - grey) * saturation[:, None, None, None] + grey
    mean = expected.mean(axis=(1, 2, 3), keepdims=True)
    expected = (expected - mean) * contrast[:, None, None, None] + mean
    result = adjust_color(images, brightness, saturation, contrast).numpy()
    np.testing.assert_allclose(result, expected, atol=1e-5)
    assert np.allclose(result[0].std(axis=-1), 0, atol=1e-6)  # saturation 0: grey pixels
    np.testing.assert_allclose(result[2], images[2], atol=1e-6)  # the identity factors


def test_diff_augment_draws_per_image_within_the_policy_and_passes_gradients():
    images = tf.constant(np.zeros((64, 16, 16, 3), np.float32))
    shown = diff_augment(images, tf.random.Generator.from_seed(0)).numpy()
    # A grey image keeps only brightness (±0.5) inside the frame; the shift (≤ 2 px at 16)
    # leaves zeros at the edges it uncovers, never more than 2 rows or columns.
    centre = shown[:, 2:-2, 2:-2, 0]
    assert np.allclose(centre, centre[:, :1, :1], atol=1e-6)
    assert centre.min() >= -0.5 and centre.max() <= 0.5
    assert len(np.unique(np.round(centre[:, 0, 0], 4))) == 64  # one draw per image
    image = tf.Variable(_images(2, 16, 16))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(diff_augment(image, tf.random.Generator.from_seed(1)) ** 2)
    assert float(tf.reduce_sum(tf.abs(tape.gradient(loss, image)))) > 0


def test_the_same_generator_state_draws_the_same():
    images = _images(2, 16, 16)
    first, second = (diff_augment(images, tf.random.Generator.from_seed(3)) for _ in "ab")
    np.testing.assert_array_equal(first, second)
