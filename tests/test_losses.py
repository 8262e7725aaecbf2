"""Tests for defgan_tf.losses on hand-computed values."""

import numpy as np
import pytest
import tensorflow as tf

from defgan_tf import losses
from defgan_tf.ops.grids import invert_grid, offset_grid
from defgan_tf.ops.warp import identity_grid


def _value(tensor):
    assert tensor.dtype == tf.float32 and tensor.shape == ()
    return float(tensor)


def test_critic_wasserstein_and_generator_adversarial():
    real = tf.constant([1.0, 3.0])
    fake = tf.constant([[0.5], [1.5]])
    assert _value(losses.critic_wasserstein(real, fake)) == pytest.approx(1.0 - 2.0)
    assert _value(losses.generator_adversarial(tf.constant([[1.0, 2.0], [3.0, 4.0]]))) == (
        pytest.approx(-2.5))


def _linear_critic(weights):
    """Per-sample score Σ w · x: its input gradient is w, of norm ‖w‖, for every x."""
    return lambda images: tf.reduce_sum(images * weights, axis=[1, 2, 3])


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    weights = tf.constant(np.full((1, 2, 2, 1), 0.5, np.float32))  # ‖w‖ = 1
    real = tf.random.normal((3, 2, 2, 1), seed=1)
    fake = tf.random.normal((3, 2, 2, 1), seed=2)
    assert _value(losses.gradient_penalty(_linear_critic(weights), real, fake)) == (
        pytest.approx(0.0, abs=1e-6))


def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared():
    weights = tf.constant([[[[3.0], [0.0]], [[0.0], [4.0]]]])  # ‖w‖ = 5
    real, fake = tf.ones((2, 2, 2, 1)), tf.zeros((2, 2, 2, 1))
    assert _value(losses.gradient_penalty(_linear_critic(weights), real, fake)) == (
        pytest.approx(16.0))


def test_gradient_penalty_averages_a_patch_map_and_mixes_real_toward_epsilon():
    # Critic x ↦ x² as a (B, 2, 2, 1) patch map: the score is mean(x̂²), its gradient
    # 2 x̂ / 4. With real = 1, fake = 0, x̂ = ε, so ‖∇‖ = 2 · ε · 2 / 4 = ε.
    real, fake = tf.ones((2, 2, 2, 1)), tf.zeros((2, 2, 2, 1))
    penalty = losses.gradient_penalty(tf.square, real, fake, epsilon=tf.constant([0.25, 1.0]))
    assert _value(penalty) == pytest.approx(((0.25 - 1) ** 2 + 0.0) / 2)


def test_gradient_penalty_seeded_draw_is_uniform_and_reproducible():
    real, fake = tf.ones((64, 1, 1, 1)), tf.zeros((64, 1, 1, 1))
    # Score 0.5 x̂²: gradient x̂ = ε, so the penalty is mean (ε − 1)².
    def critic(images):
        return 0.5 * tf.square(images)

    first = losses.gradient_penalty(critic, real, fake, seed=(3, 4))
    again = losses.gradient_penalty(critic, real, fake, seed=(3, 4))
    epsilon = tf.random.stateless_uniform([64], seed=(3, 4)).numpy()
    assert _value(first) == _value(again)
    assert _value(first) == pytest.approx(np.mean((epsilon - 1) ** 2), rel=1e-5)
    assert _value(first) == pytest.approx(1 / 3, abs=0.1)  # E (ε − 1)² for ε ~ U(0, 1)


def test_gradient_penalty_is_differentiable_with_respect_to_critic_weights():
    weights = tf.Variable([[[[3.0], [0.0]], [[0.0], [4.0]]]])
    real, fake = tf.ones((2, 2, 2, 1)), tf.zeros((2, 2, 2, 1))
    with tf.GradientTape() as tape:
        penalty = losses.gradient_penalty(
            lambda x: tf.reduce_sum(x * weights, axis=[1, 2, 3]), real, fake)
    # d(‖w‖ − 1)² / dw = 2 (‖w‖ − 1) w / ‖w‖ = 8 w / 5.
    np.testing.assert_allclose(tape.gradient(penalty, weights), 1.6 * weights.numpy(),
                               rtol=1e-5)


def test_au_regression_and_expression_loss():
    predicted = tf.constant([[0.0, 1.0], [1.0, 1.0]])
    target = tf.zeros((2, 2))
    assert _value(losses.au_regression(predicted, target)) == pytest.approx(0.75)
    deformed = tf.constant([[0.5, 0.5], [0.5, 0.5]])
    assert _value(losses.expression_loss(predicted, deformed, target, beta_d=2.0)) == (
        pytest.approx(0.75 + 2.0 * 0.25))


def test_cycle_loss_is_mean_absolute_error():
    original = tf.zeros((1, 2, 2, 1))
    reconstructed = tf.constant([[[[1.0], [-1.0]], [[0.5], [0.0]]]])
    assert _value(losses.cycle_loss(reconstructed, original)) == pytest.approx(2.5 / 4)


def test_identity_loss_is_one_minus_cosine():
    emb = tf.constant([[1.0, 0.0], [0.0, 2.0]])
    assert _value(losses.identity_loss(emb, 3.0 * emb)) == pytest.approx(0.0, abs=1e-6)
    orthogonal = tf.constant([[0.0, 5.0], [-1.0, 0.0]])
    assert _value(losses.identity_loss(emb, orthogonal)) == pytest.approx(1.0)
    assert _value(losses.identity_loss(emb, -emb)) == pytest.approx(2.0)


def test_composition_loss_of_a_grid_and_its_inverse_is_near_zero():
    coarse = tf.random.stateless_normal((2, 3, 3, 2), seed=(5, 6))
    grid = offset_grid(0.5 * tf.image.resize(coarse, (8, 10)), 1.0)  # contractive: invertible
    assert _value(losses.composition_loss(grid, invert_grid(grid))) < 1e-5
    assert _value(losses.composition_loss(grid, identity_grid(2, 8, 10))) > 1e-2


def test_composition_loss_of_a_shift_and_the_identity():
    shifted = identity_grid(1, 4, 5) + tf.constant([0.1, 0.0])
    # compose(W, Id) = W, so the loss is mean |(0.1, 0)| over both channels.
    assert _value(losses.composition_loss(shifted, identity_grid(1, 4, 5))) == (
        pytest.approx(0.05))


def test_grid_tv_is_zero_for_identity_and_translation():
    assert _value(losses.grid_tv(identity_grid(2, 4, 5))) == pytest.approx(0.0, abs=1e-7)
    shifted = identity_grid(2, 4, 5) + tf.constant([0.3, -0.2])
    assert _value(losses.grid_tv(shifted)) == pytest.approx(0.0, abs=1e-6)


def test_grid_tv_hand_value():
    # Displacement x = 0.1 in the last of three columns, two rows: vertical
    # differences all 0; horizontal ones (2 rows × 2 pairs × 2 channels = 8 values)
    # hold 0.1 twice → 0.2 / 8.
    displacement = np.zeros((1, 2, 3, 2), np.float32)
    displacement[:, :, 2, 0] = 0.1
    grid = identity_grid(1, 2, 3) + displacement
    assert _value(losses.grid_tv(grid)) == pytest.approx(0.025, rel=1e-5)


def test_grid_magnitude_is_mean_squared_displacement():
    grid = identity_grid(1, 3, 4) + tf.constant([0.1, 0.0])
    assert _value(losses.grid_magnitude(grid)) == pytest.approx(0.01 / 2, rel=1e-5)


def test_grid_magnitude_l1_is_mean_absolute_displacement():
    grid = identity_grid(1, 3, 4) + tf.constant([-0.1, 0.04])
    assert _value(losses.grid_magnitude(grid, norm="l1")) == pytest.approx(0.07, rel=1e-5)


def test_grid_magnitude_l1_gradient_does_not_vanish_near_the_identity():
    """The reason for the option: a 1e-4 offset is pulled back as hard as a large one."""
    for size in (1e-4, 0.1):
        grid = tf.Variable(identity_grid(1, 2, 2) + tf.constant([size, 0.0]))
        with tf.GradientTape() as tape:
            value = losses.grid_magnitude(grid, norm="l1")
        gradient = tape.gradient(value, grid).numpy()
        np.testing.assert_allclose(gradient[..., 0], 1 / 8, rtol=1e-5)


def test_grid_magnitude_log_is_mean_scaled_log_of_the_pixel_offset():
    """s·log(1 + |d|/s) per axis, s = 0.5 px: on a 5×3 grid 1 px is 0.5 along x, 1 along y."""
    grid = identity_grid(1, 3, 5) + tf.constant([0.5, -0.25])  # 1 px along x, 0.25 px along y
    expected = (0.25 * np.log(1 + 0.5 / 0.25) + 0.5 * np.log(1 + 0.25 / 0.5)) / 2
    assert _value(losses.grid_magnitude(grid, norm="log", scale_px=0.5)) == pytest.approx(
        expected, rel=1e-5)


def test_grid_magnitude_log_pulls_small_offsets_as_l1_does_and_large_ones_less():
    """The reason for the option: the pull is l1's near 0, half of it at s, a fifth at 4 s."""
    for size_px, share in ((1e-4, 1.0), (0.3, 0.5), (1.2, 0.2)):
        grid = tf.Variable(identity_grid(1, 3, 3) + tf.constant([size_px, 0.0]))  # 1 px = 1
        with tf.GradientTape() as tape:
            value = losses.grid_magnitude(grid, norm="log", scale_px=0.3)
        gradient = tape.gradient(value, grid).numpy()
        np.testing.assert_allclose(gradient[..., 0], share / 18, rtol=1e-3)


def test_grid_magnitude_unknown_norm_names_the_closest_choice():
    with pytest.raises(ValueError, match=r"Received: norm='l_1'\. Did you mean l1\?"):
        losses.grid_magnitude(identity_grid(1, 2, 2), norm="l_1")


def test_mask_loss_pulls_both_ways():
    mask = tf.fill((2, 3, 3, 1), 0.9)
    assert _value(losses.mask_loss(mask)) == pytest.approx(0.1)
    assert _value(losses.mask_loss(mask, pull="texture")) == pytest.approx(0.9)


def test_mask_loss_unknown_pull_names_the_closest_choice():
    with pytest.raises(ValueError, match=r"Received: pull='keeps'\. Did you mean keep\?"):
        losses.mask_loss(tf.ones((1, 2, 2, 1)), pull="keeps")


def test_mask_tv_is_a_per_sample_sum_averaged_over_the_batch():
    mask = np.zeros((2, 2, 2, 1), np.float32)
    mask[0, :, 1] = 1.0  # one vertical edge two pixels long: horizontal TV 2
    assert _value(losses.mask_tv(mask)) == pytest.approx((2.0 + 0.0) / 2)


def test_losses_return_float32_for_half_precision_inputs():
    mask = tf.ones((1, 2, 2, 1), tf.float16)
    assert losses.mask_tv(mask).dtype == tf.float32
    grid = tf.cast(identity_grid(1, 3, 3), tf.bfloat16)
    assert _value(losses.grid_magnitude(grid)) == pytest.approx(0.0, abs=1e-6)
    fake = tf.constant([1.0, 2.0], tf.float16)
    assert _value(losses.generator_adversarial(fake)) == pytest.approx(-1.5)


def _moments_of(labels, readings):
    return losses.calibration_moments(tf.constant(labels, tf.float32),
                                      tf.constant(readings, tf.float32))


def test_au_calibration_line_fits_the_heads_reading_of_the_labels():
    labels = np.array([[0.0, 0.2, 0.5], [0.5, 0.2, 1.0], [1.0, 0.2, 0.0]], np.float32)
    readings = np.stack([0.5 * labels[:, 0] + 0.1,           # shrunk: a 0.5, b 0.1
                         [0.1, 0.3, 0.2],                    # labels constant: no slope
                         2.0 * labels[:, 2]], axis=1)        # steeper than 1: clipped
    slope, intercept = losses.au_calibration_line(_moments_of(labels, readings))
    np.testing.assert_allclose(slope, [0.5, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(intercept, [0.1, 0.2, 1.0 - 0.5], atol=1e-6)
    target = tf.constant([[1.0, 1.0, 0.0]])
    np.testing.assert_allclose(
        losses.calibrated_au_targets(target, _moments_of(labels, readings)),
        [[0.6, 0.2, 0.5]], atol=1e-6)


def test_calibration_start_moments_ask_for_the_labels_themselves():
    start = tf.constant([[0.0] * 17, [0.0] * 17, [1.0] * 17, [1.0] * 17])
    target = tf.random.stateless_uniform((3, 17), seed=(1, 2))
    np.testing.assert_allclose(losses.calibrated_au_targets(target, start), target, atol=1e-7)
