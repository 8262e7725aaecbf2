"""Gather-based bilinear warping in pure TensorFlow (DESIGN.md §1, "Warp").

Why not a library op: `tfa.image.resampler` left with tensorflow-addons,
`keras.ops.image.map_coordinates` interpolates along every axis (16 gathers for a
batched colour image, see docs/warp.md) and neither converts to TFLite with
builtin ops only. This module needs nothing but GATHER, arithmetic and clamping,
so it runs under XLA, in TFLite (`TFLITE_BUILTINS`) and with a dynamic batch.

Conventions used throughout the project:
- images are (B, H, W, C), channels last;
- a *grid* is (B, Ho, Wo, 2) in normalized (x, y) order, −1 and +1 at the centres
  of the corner pixels (align_corners=True), so x = −1 is column 0 and x = +1 is
  column W − 1;
- output pixel (i, j) takes the image's value at grid[:, i, j].
"""

from __future__ import annotations

import tensorflow as tf

from defgan_tf.config import did_you_mean

PADDINGS = ("border", "zeros")


def identity_grid(
    batch: int | tf.Tensor, height: int, width: int, dtype: tf.DType = tf.float32
) -> tf.Tensor:
    """The grid that samples every pixel at its own centre.

    Computed with ops (linspace, meshgrid) rather than stored, so a saved or
    exported model carries no (H, W, 2) constant of its own.

    Args:
        batch: number of grids; a Python int or a scalar int tensor (dynamic batch).
        height: H, rows of the image the grid addresses.
        width: W, columns of the image the grid addresses.
        dtype: floating dtype of the result.

    Returns:
        (batch, height, width, 2) tensor; [..., 0] = x runs from −1 (column 0) to
        +1 (column W − 1), [..., 1] = y from −1 (row 0) to +1 (row H − 1).
    """
    xs = tf.linspace(tf.constant(-1.0, dtype), tf.constant(1.0, dtype), width)
    ys = tf.linspace(tf.constant(-1.0, dtype), tf.constant(1.0, dtype), height)
    grid_x, grid_y = tf.meshgrid(xs, ys, indexing="xy")  # each (H, W)
    grid = tf.expand_dims(tf.stack([grid_x, grid_y], axis=-1), 0)
    return tf.tile(grid, tf.stack([batch, 1, 1, 1]))


def identity_like(field: tf.Tensor) -> tf.Tensor:
    """The float32 identity grid with the batch and (H, W) of a (B, H, W, ·) tensor.

    Args:
        field: (B, H, W, C) image, grid or raw field; only its shape is read.

    Returns:
        (B, H, W, 2) float32 identity grid.
    """
    return identity_grid(tf.shape(field)[0], *spatial_size(field))


def warp(image: tf.Tensor, grid: tf.Tensor, padding: str = "border") -> tf.Tensor:
    """Samples `image` bilinearly at `grid` (the paper's I_d = warp(I_o, W), eq. 4).

    Differentiable with respect to both inputs (the gradient with respect to the
    grid is the usual piecewise one; it is zero where a border clamp is active).
    Computes in float32 and casts back, so float16 and bfloat16 inputs are safe.

    Args:
        image: (B, H, W, C) float tensor.
        grid: (B, Ho, Wo, 2) float, normalized [−1, 1], (x, y) order; values outside
            [−1, 1] are allowed and handled by `padding`.
        padding: "border" repeats the edge pixels outside the image; "zeros" reads
            zeros there, blending them in over the last pixel (tfa.image.resampler).

    Returns:
        (B, Ho, Wo, C) tensor with the dtype of `image`.
    """
    image = tf.convert_to_tensor(image)
    height, width = spatial_size(image)
    grid = tf.cast(grid, tf.float32)
    x_px = (grid[..., 0] + 1.0) * (0.5 * (tf.cast(width, tf.float32) - 1.0))
    y_px = (grid[..., 1] + 1.0) * (0.5 * (tf.cast(height, tf.float32) - 1.0))
    return _bilinear(image, x_px, y_px, padding)


def resampler(data: tf.Tensor, warp: tf.Tensor) -> tf.Tensor:
    """`tfa.image.resampler` without tensorflow-addons: same signature and semantics.

    Args:
        data: (B, H, W, C) float tensor.
        warp: (B, ..., 2) float, *pixel* coordinates in (x, y) order: (0, 0) is the
            centre of the top-left pixel, (W − 1, H − 1) of the bottom-right one.

    Returns:
        (B, ..., C) tensor with the dtype of `data`; samples outside the image
        blend with zeros, exactly as the tfa kernel does.
    """
    warp = tf.cast(warp, tf.float32)
    return _bilinear(tf.convert_to_tensor(data), warp[..., 0], warp[..., 1], "zeros")


def compose(grid_a: tf.Tensor, grid_b: tf.Tensor) -> tf.Tensor:
    """The grid of sampling with W_b, then with W_a: (W_a ∘ W_b)(p) = W_a(W_b(p)).

    warp(warp(image, grid_a), grid_b) ≈ warp(image, compose(grid_a, grid_b)) up to
    interpolation error; the composition loss (paper eq. 13) compares
    compose(W, W') with the identity. Inside the image this is warp(grid_a, grid_b)
    (grid_a read as a 2-channel image, DESIGN.md §3). Outside, W_a is extended by
    its border *displacement* (W_a − Id), not its border position, so that
    compose(Id, W) = W holds even where W points past the border.

    Args:
        grid_a: (B, H, W, 2) normalized (x, y) grid.
        grid_b: (B, Ho, Wo, 2) normalized (x, y) grid where grid_a is read.

    Returns:
        (B, Ho, Wo, 2) float32 normalized (x, y) grid.
    """
    grid_a = tf.cast(grid_a, tf.float32)
    grid_b = tf.cast(grid_b, tf.float32)
    displacement_a = grid_a - identity_like(grid_a)
    return grid_b + warp(displacement_a, grid_b, padding="border")


def _bilinear(image: tf.Tensor, x_px: tf.Tensor, y_px: tf.Tensor, padding: str) -> tf.Tensor:
    """Bilinear sampling at float32 pixel coordinates of shape (B, ...)."""
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}. Received: padding={padding!r}."
                         f"{did_you_mean(padding, PADDINGS)}")
    out_dtype = image.dtype
    image = tf.cast(image, tf.float32)
    if padding == "zeros":
        # One ring of zeros around the image turns zero padding into border
        # clamping, so both modes share the same four gathers and no masks.
        image = tf.pad(image, [[0, 0], [1, 1], [1, 1], [0, 0]])
        x_px, y_px = x_px + 1.0, y_px + 1.0
    image_shape = tf.shape(image)
    batch, height, width, channels = (image_shape[i] for i in range(4))
    points_shape = tf.shape(x_px)
    x_px = tf.reshape(x_px, tf.stack([batch, -1]))  # (B, N)
    y_px = tf.reshape(y_px, tf.stack([batch, -1]))
    x_px = tf.clip_by_value(x_px, 0.0, tf.cast(width - 1, tf.float32))
    y_px = tf.clip_by_value(y_px, 0.0, tf.cast(height - 1, tf.float32))
    x_floor, y_floor = tf.floor(x_px), tf.floor(y_px)
    # expand_dims, not [..., tf.newaxis]: TFLite's builtin STRIDED_SLICE cannot add
    # axes to dynamically shaped tensors (batch None).
    weight_x = tf.expand_dims(x_px - x_floor, -1)  # (B, N, 1)
    weight_y = tf.expand_dims(y_px - y_floor, -1)
    x0 = tf.cast(x_floor, tf.int32)
    y0 = tf.cast(y_floor, tf.int32)
    x1 = tf.minimum(x0 + 1, width - 1)
    y1 = tf.minimum(y0 + 1, height - 1)
    # Four gathers on the flattened (B·H·W, C) image: measured fastest on CPU,
    # with and without XLA, of the variants listed in docs/warp.md.
    pixels = tf.reshape(image, tf.stack([-1, channels]))
    first_row = tf.expand_dims(tf.range(batch) * height, -1)  # (B, 1)
    row0 = (first_row + y0) * width  # (B, N)
    row1 = (first_row + y1) * width
    top_left = tf.gather(pixels, row0 + x0)
    top_right = tf.gather(pixels, row0 + x1)
    bottom_left = tf.gather(pixels, row1 + x0)
    bottom_right = tf.gather(pixels, row1 + x1)
    top = top_left + weight_x * (top_right - top_left)
    bottom = bottom_left + weight_x * (bottom_right - bottom_left)
    sampled = top + weight_y * (bottom - top)  # (B, N, C)
    out_shape = tf.concat([points_shape, tf.reshape(channels, [1])], axis=0)
    return tf.cast(tf.reshape(sampled, out_shape), out_dtype)


def spatial_size(tensor: tf.Tensor) -> tuple[int | tf.Tensor, int | tf.Tensor]:
    """(H, W) of a (B, H, W, C) image or grid: Python ints when static, tensors otherwise.

    Static sizes keep shapes known to XLA and TFLite; dynamic ones let a SavedModel
    accept any image size.
    """
    if tensor.shape.rank is not None and tensor.shape.rank != 4:
        raise ValueError(
            f"Expected a rank-4 (B, H, W, C) tensor. Received shape: {tensor.shape}"
        )
    dynamic = tf.shape(tensor)
    height = tensor.shape[1] if tensor.shape[1] is not None else dynamic[1]
    width = tensor.shape[2] if tensor.shape[2] is not None else dynamic[2]
    return height, width
