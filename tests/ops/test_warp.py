"""Tests for defgan_tf.ops.warp against an independent NumPy bilinear sampler."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from defgan_tf.ops.grids import offset_grid
from defgan_tf.ops.warp import compose, identity_grid, resampler, warp


def reference_sample(image, x_px, y_px, padding):
    """Bilinear sampling at pixel coordinates, corner by corner, in float64.

    "zeros" zeroes each out-of-image corner (tfa.image.resampler); "border" clamps
    the coordinates into the image first.
    """
    image = np.asarray(image, np.float64)
    batch, height, width, _ = image.shape
    x_px = np.asarray(x_px, np.float64)
    y_px = np.asarray(y_px, np.float64)
    if padding == "border":
        x_px = np.clip(x_px, 0, width - 1)
        y_px = np.clip(y_px, 0, height - 1)
    x0, y0 = np.floor(x_px), np.floor(y_px)
    b = np.arange(batch).reshape((-1,) + (1,) * (x_px.ndim - 1))
    out = 0.0
    for dy, dx in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        xs, ys = x0 + dx, y0 + dy
        weight = (1 - np.abs(x_px - xs)) * (1 - np.abs(y_px - ys))
        inside = (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)
        values = image[b, np.clip(ys, 0, height - 1).astype(int),
                       np.clip(xs, 0, width - 1).astype(int)]
        out = out + (weight * inside)[..., None] * values
    return out


def reference_warp(image, grid, padding="border"):
    """NumPy warp with normalized (x, y) grids, align_corners=True."""
    _, height, width, _ = np.shape(image)
    grid = np.asarray(grid, np.float64)
    x_px = (grid[..., 0] + 1) * (width - 1) / 2
    y_px = (grid[..., 1] + 1) * (height - 1) / 2
    return reference_sample(image, x_px, y_px, padding)


@pytest.mark.parametrize("padding", ["border", "zeros"])
@pytest.mark.parametrize(
    ("image_shape", "grid_hw"), [((1, 4, 5, 3), (3, 6)), ((3, 6, 4, 2), (5, 5))]
)
def test_warp_matches_numpy_reference(padding, image_shape, grid_hw):
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, image_shape).astype(np.float32)
    # ±1.4 puts about a third of the samples outside the image.
    grid = rng.uniform(-1.4, 1.4, (image_shape[0], *grid_hw, 2)).astype(np.float32)
    out = warp(image, grid, padding=padding).numpy()
    assert out.shape == (image_shape[0], *grid_hw, image_shape[3])
    np.testing.assert_allclose(out, reference_warp(image, grid, padding), atol=1e-5, rtol=0)


def test_border_and_zeros_differ_only_outside():
    rng = np.random.default_rng(1)
    image = rng.uniform(0.5, 1, (1, 4, 4, 1)).astype(np.float32)
    grid = np.array([[[[0.3, -0.2], [2.0, 0.0]]]], np.float32)  # x = 2: 1.5 px outside
    border = warp(image, grid, "border").numpy()
    zeros = warp(image, grid, "zeros").numpy()
    assert border[0, 0, 0] == pytest.approx(zeros[0, 0, 0])
    assert zeros[0, 0, 1, 0] == 0.0
    assert border[0, 0, 1, 0] == pytest.approx(image[0, 1, 3, 0] * 0.5 + image[0, 2, 3, 0] * 0.5)


def test_resampler_follows_tfa_semantics():
    data = np.arange(4, dtype=np.float32).reshape(1, 2, 2, 1)  # [[0, 1], [2, 3]]
    points = np.array([[[0.5, 0.5], [1.5, 1.0], [-0.5, 1.0], [5.0, 5.0], [1.0, 0.0]]],
                      np.float32)  # (B, N, 2), pixel (x, y)
    out = resampler(data, points).numpy()
    # centre: mean of all four; half outside to the right: half of 3; half
    # outside to the left: half of 2; far outside: 0; exactly on pixel (1, 0): 1.
    np.testing.assert_allclose(out[0, :, 0], [1.5, 1.5, 1.0, 0.0, 1.0], atol=1e-6)


def test_resampler_matches_reference_with_extra_dims():
    rng = np.random.default_rng(2)
    data = rng.uniform(-1, 1, (2, 5, 7, 3)).astype(np.float32)
    points = rng.uniform(-2, 8, (2, 3, 4, 2)).astype(np.float32)
    out = resampler(data, points).numpy()
    assert out.shape == (2, 3, 4, 3)
    want = reference_sample(data, points[..., 0], points[..., 1], "zeros")
    np.testing.assert_allclose(out, want, atol=1e-5, rtol=0)


def test_identity_grid_values_and_dynamic_batch():
    grid = identity_grid(tf.constant(2), 2, 3).numpy()
    assert grid.shape == (2, 2, 3, 2)
    np.testing.assert_array_equal(grid[1, ..., 0], [[-1, 0, 1], [-1, 0, 1]])
    np.testing.assert_array_equal(grid[1, ..., 1], [[-1, -1, -1], [1, 1, 1]])


@pytest.mark.parametrize("padding", ["border", "zeros"])
def test_identity_grid_reproduces_the_image(padding):
    rng = np.random.default_rng(3)
    # (H − 1) and (W − 1) powers of two: the grid's coordinates are exact binary
    # fractions, so the identity warp is bit-exact.
    image = rng.uniform(-1, 1, (2, 5, 9, 3)).astype(np.float32)
    np.testing.assert_array_equal(warp(image, identity_grid(2, 5, 9), padding), image)
    # Other sizes: exact up to float32 rounding of the coordinates (≲ 1e-5 px at
    # 128 px, times a neighbour difference of up to 2).
    image = rng.uniform(-1, 1, (1, 128, 96, 3)).astype(np.float32)
    np.testing.assert_allclose(warp(image, identity_grid(1, 128, 96), padding), image,
                               atol=5e-5, rtol=0)


def _grid_away_from_pixels(rng, batch, height, width, out_hw, margin=0.2):
    """Normalized grid whose pixel coordinates have fractional parts in (margin, 1 − margin)."""
    cols = rng.integers(0, width - 1, (batch, *out_hw)) + rng.uniform(margin, 1 - margin,
                                                                      (batch, *out_hw))
    rows = rng.integers(0, height - 1, (batch, *out_hw)) + rng.uniform(margin, 1 - margin,
                                                                       (batch, *out_hw))
    return np.stack([cols / (width - 1) * 2 - 1, rows / (height - 1) * 2 - 1], -1)


@pytest.mark.parametrize("padding", ["border", "zeros"])
def test_gradients_match_finite_differences(padding):
    rng = np.random.default_rng(4)
    image = rng.uniform(-1, 1, (2, 3, 4, 2)).astype(np.float32)
    grid = _grid_away_from_pixels(rng, 2, 3, 4, (2, 3)).astype(np.float32)
    if padding == "zeros":
        grid[0, 0, 0] = [-1.2, -1.25]  # in the band where zeros blend in: still smooth
    for wrt in ("image", "grid"):
        if wrt == "image":
            theoretical, numerical = tf.test.compute_gradient(
                lambda x: warp(x, grid, padding), [image], delta=1e-2)
        else:
            theoretical, numerical = tf.test.compute_gradient(
                lambda g: warp(image, g, padding), [grid], delta=1e-3)
        assert np.abs(theoretical[0]).max() > 0.1
        np.testing.assert_allclose(theoretical[0], numerical[0], atol=5e-3)


def test_warp_of_affine_image_is_exact_and_compose_chains_warps():
    # Bilinear interpolation reproduces an affine image exactly, so warping twice
    # equals warping once with the composed grid.
    height, width = 6, 7
    ys, xs = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    image = np.stack([0.5 * xs - 0.2 * ys + 0.1, 0.3 * ys], -1)[None].astype(np.float32)
    rng = np.random.default_rng(5)
    grid_a = rng.uniform(-0.9, 0.9, (1, height, width, 2)).astype(np.float32)
    grid_b = rng.uniform(-0.9, 0.9, (1, height, width, 2)).astype(np.float32)
    twice = warp(warp(image, grid_a), grid_b)
    np.testing.assert_allclose(twice, warp(image, compose(grid_a, grid_b)), atol=1e-6)


def test_compose_with_identity_gives_the_grid_back():
    rng = np.random.default_rng(6)
    grid = rng.uniform(-1.3, 1.3, (2, 4, 5, 2)).astype(np.float32)  # partly outside
    identity = identity_grid(2, 4, 5)
    np.testing.assert_allclose(compose(identity, grid), grid, atol=1e-6)
    np.testing.assert_allclose(compose(grid, identity), grid, atol=1e-6)


def test_dynamic_batch_and_size_in_a_traced_function():
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3]),
                                  tf.TensorSpec([None, None, None, 2])])
    def traced(image, grid):
        return warp(image, grid)

    rng = np.random.default_rng(7)
    for batch, height, width in [(1, 4, 5), (3, 6, 2)]:
        image = rng.uniform(size=(batch, height, width, 3)).astype(np.float32)
        grid = rng.uniform(-1.2, 1.2, (batch, 3, 3, 2)).astype(np.float32)
        np.testing.assert_allclose(traced(image, grid), reference_warp(image, grid),
                                   atol=1e-5)


def test_jit_compile_matches_eager_with_gradients():
    rng = np.random.default_rng(8)
    image = tf.constant(rng.uniform(size=(2, 5, 6, 3)), tf.float32)
    raw = tf.constant(rng.normal(size=(2, 5, 6, 2)), tf.float32)

    def loss_and_gradients(image, raw):
        with tf.GradientTape() as tape:
            tape.watch([image, raw])
            deformed = warp(image, offset_grid(raw, 1.5), padding="zeros")
            loss = tf.reduce_sum(tf.square(deformed))
        return [deformed, *tape.gradient(loss, [image, raw])]

    compiled = tf.function(loss_and_gradients, jit_compile=True)(image, raw)
    for got, want in zip(compiled, loss_and_gradients(image, raw)):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_half_precision_inputs_keep_their_dtype(dtype):
    rng = np.random.default_rng(9)
    image = rng.uniform(-1, 1, (1, 4, 5, 3)).astype(np.float32)
    grid = rng.uniform(-1.1, 1.1, (1, 4, 5, 2)).astype(np.float32)
    out = warp(tf.cast(image, dtype), tf.cast(grid, dtype))
    assert out.dtype == dtype
    want = reference_warp(tf.cast(tf.cast(image, dtype), tf.float32),
                          tf.cast(tf.cast(grid, dtype), tf.float32))
    np.testing.assert_allclose(tf.cast(out, tf.float32), want, atol=1e-2)


def test_unknown_padding_names_the_closest_choice():
    with pytest.raises(ValueError, match=r"Received: padding='zero'\. Did you mean zeros\?"):
        warp(tf.zeros((1, 2, 2, 1)), identity_grid(1, 2, 2), padding="zero")


def test_rank_3_image_is_rejected():
    with pytest.raises(ValueError, match=r"rank-4 \(B, H, W, C\).*\(2, 2, 1\)"):
        warp(tf.zeros((2, 2, 1)), identity_grid(1, 2, 2))


class _OffsetWarp(keras.layers.Layer):
    """Deforms an image with a raw field, as the deformation generator does."""

    def __init__(self, padding, **kwargs):
        super().__init__(**kwargs)
        self.padding = padding

    def call(self, image, raw):
        return warp(image, offset_grid(raw, 2.0), self.padding)


@pytest.mark.parametrize("padding", ["border", "zeros"])
def test_savedmodel_with_dynamic_batch_converts_to_tflite_builtins(padding, tmp_path):
    image = keras.Input((6, 8, 3))  # batch None, as the export writes it
    raw = keras.layers.Conv2D(2, 3, padding="same", kernel_initializer="random_normal")(image)
    model = keras.Model(image, _OffsetWarp(padding)(image, raw))
    model.export(str(tmp_path / "saved"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    op_names = {op["op_name"] for op in interpreter._get_ops_details()}
    assert "GATHER" in op_names
    assert not any(name.startswith("Flex") or name == "CUSTOM" for name in op_names)

    rng = np.random.default_rng(10)
    input_index = interpreter.get_input_details()[0]["index"]
    for batch in (1, 3):
        interpreter.resize_tensor_input(input_index, [batch, 6, 8, 3])
        interpreter.allocate_tensors()
        sample = rng.uniform(-1, 1, (batch, 6, 8, 3)).astype(np.float32)
        interpreter.set_tensor(input_index, sample)
        interpreter.invoke()
        lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        np.testing.assert_allclose(lite, model(sample).numpy(), atol=1e-5, rtol=0)
