"""Sampling grids from the deformation generator's raw field, and grid utilities.

Two ways to turn the raw field Δ (B, H, W, 2) into a grid (DESIGN.md §1,
"Grid variants", config `deformation.mode`):
- `offset_grid` (the paper, eq. 5): bounded per-pixel offsets around the identity;
- `integral_grid` (Deforming Autoencoders): positive increments summed along each
  axis, so neighbouring samples never swap places (no folds).
Both return the identity grid exactly when Δ = 0.
"""

from __future__ import annotations

import tensorflow as tf

from defgan_tf.ops.warp import identity_like, spatial_size, warp

GRID_CLIP = 1.2  # integral mode: how far past the image border a sample may go


def offset_grid(raw: tf.Tensor, max_offset_px: float) -> tf.Tensor:
    """W = Id + s · tanh(Δ): each pixel moves at most `max_offset_px` along x and y.

    s = max_offset_px · 2 / (W − 1) for x and · 2 / (H − 1) for y converts pixels to
    normalized units, so the bound is in pixels on non-square images too.

    Args:
        raw: (B, H, W, 2) raw field Δ from the deformation generator, (x, y) order.
        max_offset_px: largest offset in pixels (DESIGN.md: 5 · H / 128).

    Returns:
        (B, H, W, 2) float32 grid, normalized (x, y).
    """
    raw = tf.cast(raw, tf.float32)
    return identity_like(raw) + tf.tanh(raw) * pixels_to_grid(raw, max_offset_px)


def integral_grid(raw: tf.Tensor, k: float = 2.0) -> tf.Tensor:
    """Deforming Autoencoders' integral grid: positive increments, summed along x and y.

    Between neighbouring output pixels the sample position advances by
    d(Δ) = k · sigmoid(Δ + b) pixels with b = −log(k − 1): d lies in (0, k), so the
    warp never folds, and d(0) = 1 pixel, the identity's spacing. The grid is
        x[i, j] = Id_x[i, j] + s_x · Σ_{j' ≤ j} (d(Δ_x[i, j']) − 1),
    and the same along y (rows) with Δ_y, s = 2 / (size − 1), clipped to
    [−1.2, 1.2]. d − 1 is computed as (k − 1)(e^Δ − 1) / (k − 1 + e^Δ), the same
    function written so that Δ = 0 gives exactly 0 on every backend: the rest state
    is exactly the identity, where DAE's own form (sigmoid · 2/H · k summed from −1)
    only approaches it. Pixel 0 moves too (by d − 1), so the edge is not pinned.

    Args:
        raw: (B, H, W, 2) raw field Δ, (x, y) order.
        k: largest step between neighbouring samples in pixels; must exceed 1
            (k = 2 puts the rest state at sigmoid = 1/2, DAE's midpoint).

    Returns:
        (B, H, W, 2) float32 grid, normalized (x, y), in [−1.2, 1.2].
    """
    if not k > 1:
        raise ValueError(
            f"integral_grid needs k > 1 (the identity's 1-pixel step must lie inside "
            f"(0, k)). Received: k={k}"
        )
    raw = tf.cast(raw, tf.float32)
    # Beyond ±20 the sigmoid is flat to 1e-8; the clip keeps e^Δ finite.
    growth = tf.exp(tf.clip_by_value(raw, -20.0, 20.0))
    step_change_px = (k - 1.0) * (growth - 1.0) / (k - 1.0 + growth)  # d(Δ) − 1
    scaled = step_change_px * pixels_to_grid(raw, 1.0)
    offsets = tf.stack(
        [tf.cumsum(scaled[..., 0], axis=2), tf.cumsum(scaled[..., 1], axis=1)], axis=-1
    )
    return tf.clip_by_value(identity_like(raw) + offsets, -GRID_CLIP, GRID_CLIP)


def invert_grid(grid: tf.Tensor, iterations: int = 30) -> tf.Tensor:
    """Numerical inverse W⁻¹ with W(W⁻¹(p)) ≈ p, by fixed-point iteration.

    Writing W = Id + D, the inverse satisfies W⁻¹(p) = p − D(W⁻¹(p)); iterating
    that map from W⁻¹ = Id converges when D is a contraction (its pixel
    gradient below 1, true for smooth, small deformations). Used by tests and by
    evaluation (e.g. the composition loss of a grid with its inverse is ≈ 0).

    Args:
        grid: (B, H, W, 2) normalized (x, y) grid.
        iterations: fixed-point steps; the error shrinks geometrically.

    Returns:
        (B, H, W, 2) float32 grid such that compose(grid, result) ≈ identity.
    """
    grid = tf.cast(grid, tf.float32)
    identity = identity_like(grid)
    displacement = grid - identity
    inverse = identity
    for _ in range(iterations):
        inverse = identity - warp(displacement, inverse, padding="border")
    return inverse


def grid_to_flow_px(grid: tf.Tensor) -> tf.Tensor:
    """The grid's displacement from the identity, in pixels (for metrics and plots).

    Args:
        grid: (B, H, W, 2) normalized (x, y) grid.

    Returns:
        (B, H, W, 2) float32 (dx, dy) in pixels: output pixel (i, j) reads the
        input at column j + dx, row i + dy.
    """
    grid = tf.cast(grid, tf.float32)
    return (grid - identity_like(grid)) / pixels_to_grid(grid, 1.0)


def flow_px_to_grid(flow: tf.Tensor) -> tf.Tensor:
    """The inverse of grid_to_flow_px: a (dx, dy) pixel flow as a normalized sampling grid.

    Args:
        flow: (B, H, W, 2) float (dx, dy) in pixels, as grid_to_flow_px returns.

    Returns:
        (B, H, W, 2) float32 normalized (x, y) grid for `warp`.
    """
    flow = tf.cast(flow, tf.float32)
    return identity_like(flow) + flow * pixels_to_grid(flow, 1.0)


def pixels_to_grid(field: tf.Tensor, pixels: float) -> tf.Tensor:
    """(2,) factors turning `pixels` along (x, y) into normalized units for `field`'s size."""
    height, width = spatial_size(field)
    height = tf.cast(height, tf.float32)
    width = tf.cast(width, tf.float32)
    return pixels * 2.0 / (tf.stack([width, height]) - 1.0)

