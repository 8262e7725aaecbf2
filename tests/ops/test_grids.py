"""Tests for defgan_tf.ops.grids: grid constructions, inversion and pixel flows."""

import numpy as np
import pytest
import tensorflow as tf

from defgan_tf.ops.grids import (
    flow_px_to_grid,
    grid_to_flow_px,
    integral_grid,
    invert_grid,
    offset_grid,
)
from defgan_tf.ops.warp import compose, identity_grid, warp


def _smooth_field(seed, shape, scale):
    """A smooth random raw field: coarse noise upsampled bilinearly."""
    batch, height, width, _ = shape
    coarse = np.random.default_rng(seed).normal(size=(batch, 3, 4, 2)).astype(np.float32)
    return scale * tf.image.resize(coarse, (height, width))


def test_offset_grid_rest_state_is_the_identity():
    np.testing.assert_array_equal(offset_grid(tf.zeros((2, 5, 7, 2)), 3.0),
                                  identity_grid(2, 5, 7))


def test_offset_grid_saturates_at_max_offset_in_pixels_on_both_axes():
    raw = tf.concat([tf.fill((1, 5, 9, 1), 50.0), tf.fill((1, 5, 9, 1), -50.0)], axis=-1)
    flow = grid_to_flow_px(offset_grid(raw, 1.5)).numpy()
    np.testing.assert_allclose(flow[..., 0], 1.5, atol=1e-5)  # x scaled by W = 9
    np.testing.assert_allclose(flow[..., 1], -1.5, atol=1e-5)  # y scaled by H = 5


def test_flow_px_to_grid_inverts_grid_to_flow_px_on_non_square_fields():
    flow = np.random.default_rng(0).normal(0, 2, (2, 5, 9, 2)).astype(np.float32)
    np.testing.assert_allclose(grid_to_flow_px(flow_px_to_grid(flow)), flow, atol=1e-5)
    # One pixel to the right is 2 / (W − 1) in normalized x.
    one = flow_px_to_grid(np.tile([[[[1.0, 0.0]]]], (1, 5, 9, 1))) - flow_px_to_grid(
        np.zeros((1, 5, 9, 2), np.float32))
    np.testing.assert_allclose(one[..., 0], 2 / 8, atol=1e-6)


def test_offset_grid_is_tanh_of_the_raw_field():
    raw = np.random.default_rng(0).normal(size=(2, 4, 6, 2)).astype(np.float32)
    flow = grid_to_flow_px(offset_grid(raw, 2.0)).numpy()
    np.testing.assert_allclose(flow, 2.0 * np.tanh(raw), atol=1e-5)


@pytest.mark.parametrize("k", [1.5, 2.0, 3.0])
def test_integral_grid_rest_state_is_exactly_the_identity(k):
    np.testing.assert_array_equal(integral_grid(tf.zeros((2, 5, 7, 2)), k),
                                  identity_grid(2, 5, 7))


def test_integral_grid_constant_field_compresses_uniformly():
    # k = 2, Δ_x = −log 3: each step is 2 · sigmoid(−log 3) = 0.5 px, 0.5 px less than
    # the identity's, accumulated from column 0 on (pixel 0 moves too).
    raw = np.zeros((1, 3, 9, 2), np.float32)
    raw[..., 0] = -np.log(3.0)
    flow = grid_to_flow_px(integral_grid(raw, 2.0)).numpy()
    np.testing.assert_allclose(flow[0, :, :, 0], np.tile(-0.5 * np.arange(1, 10), (3, 1)),
                               atol=1e-4)
    np.testing.assert_allclose(flow[..., 1], 0.0, atol=1e-6)


def test_integral_grid_steps_are_k_sigmoid_shifted():
    # Column 0's offset is one step's change, d(Δ) − 1 = k · sigmoid(Δ − log(k − 1)) − 1,
    # bounded by (−1, k − 1) px and finite for saturated raw values (21 columns keep
    # column 0 inside the ±1.2 clip).
    k = 3.0
    raw = np.random.default_rng(4).normal(scale=2.0, size=(2, 4, 21, 2)).astype(np.float32)
    raw[0, 0, 0] = [100.0, -100.0]
    flow = grid_to_flow_px(integral_grid(raw, k)).numpy()
    want = k / (1 + np.exp(-(raw[..., 0, 0] - np.log(k - 1)))) - 1
    np.testing.assert_allclose(flow[:, :, 0, 0], want, atol=1e-4)
    assert flow[0, 0, 0, 0] == pytest.approx(k - 1, abs=1e-4)


def test_integral_grid_never_folds_and_stays_clipped():
    raw = np.random.default_rng(1).normal(scale=3.0, size=(2, 6, 8, 2)).astype(np.float32)
    grid = integral_grid(raw, 2.0).numpy()
    assert grid.min() >= -1.2 and grid.max() <= 1.2
    assert np.all(np.diff(grid[..., 0], axis=2) >= 0)  # x never decreases along a row
    assert np.all(np.diff(grid[..., 1], axis=1) >= 0)  # y never decreases down a column


def test_integral_grid_rejects_k_at_most_one():
    with pytest.raises(ValueError, match=r"k > 1 .* Received: k=1\.0"):
        integral_grid(tf.zeros((1, 2, 2, 2)), 1.0)


def test_composing_a_grid_with_its_numerical_inverse_gives_the_identity():
    grid = offset_grid(_smooth_field(2, (2, 12, 16, 2), 1.0), 1.0)
    assert np.abs(grid_to_flow_px(grid)).max() > 0.3  # a real deformation
    inverse = invert_grid(grid)
    np.testing.assert_allclose(compose(grid, inverse), identity_grid(2, 12, 16), atol=1e-4)


def test_inverse_grid_undoes_the_warp_of_an_affine_image():
    # Bilinear sampling is exact on an affine image, so only the inversion's error
    # shows; the two-pixel frame, where border clamping loses information, is left out.
    height, width = 10, 12
    ys, xs = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    image = np.stack([xs, ys, 0.3 * xs - 0.5 * ys], -1)[None].astype(np.float32)
    grid = offset_grid(_smooth_field(3, (1, height, width, 2), 0.5), 0.8)
    restored = warp(warp(image, grid), invert_grid(grid))
    np.testing.assert_allclose(restored[:, 2:-2, 2:-2], image[:, 2:-2, 2:-2], atol=1e-4)


def test_grid_to_flow_px_converts_a_shift_to_pixels():
    # 0.5 normalized units is 2 px across 9 columns ((9 − 1) / 2 px per unit), 1 px
    # across 5 rows.
    grid = identity_grid(1, 5, 9) + tf.constant([0.5, 0.5])
    flow = grid_to_flow_px(grid).numpy()
    np.testing.assert_allclose(flow[..., 0], 2.0, atol=1e-6)
    np.testing.assert_allclose(flow[..., 1], 1.0, atol=1e-6)


def test_grids_accept_a_dynamic_batch():
    @tf.function(input_signature=[tf.TensorSpec([None, 4, 6, 2])])
    def both(raw):
        return offset_grid(raw, 1.0), integral_grid(raw, 2.0)

    for batch in (1, 3):
        offset, integral = both(tf.zeros((batch, 4, 6, 2)))
        np.testing.assert_array_equal(offset, identity_grid(batch, 4, 6))
        np.testing.assert_array_equal(integral, identity_grid(batch, 4, 6))
