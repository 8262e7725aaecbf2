"""DefGAN's loss terms as pure functions (DESIGN.md §3; paper eq. 7–15).

Each function returns one unweighted float32 scalar; the training step applies the
`lambda_*` weights from the config and logs both. Inputs of any float dtype are
cast to float32 first, so the terms stay in float32 under mixed precision.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from defgan_tf.config import did_you_mean
from defgan_tf.ops.grids import pixels_to_grid
from defgan_tf.ops.warp import compose, identity_like

MASK_PULLS = ("keep", "texture")
DEFORMATION_NORMS = ("squared", "l1", "log")
_NORM_EPSILON = 1e-12  # inside the gradient norm's square root: finite gradient at 0


def critic_wasserstein(real_scores: tf.Tensor, fake_scores: tf.Tensor) -> tf.Tensor:
    """The critic's Wasserstein loss, mean D(I_f) − mean D(I_o) (paper eq. 7; minimised).

    Args:
        real_scores: critic outputs on real faces, any shape (patch maps included).
        fake_scores: critic outputs on edited faces, any shape.

    Returns:
        Scalar; its negation is the critic's estimate of the Wasserstein distance.
    """
    return _mean(fake_scores) - _mean(real_scores)


def generator_adversarial(fake_scores: tf.Tensor) -> tf.Tensor:
    """The generators' adversarial loss, −mean D(I_f) (paper eq. 8; minimised).

    Args:
        fake_scores: critic outputs on edited faces, any shape.

    Returns:
        Scalar.
    """
    return -_mean(fake_scores)


def gradient_penalty(
    critic_fn: Callable[[tf.Tensor], tf.Tensor],
    real: tf.Tensor,
    fake: tf.Tensor,
    epsilon: tf.Tensor | None = None,
    seed: tf.Tensor | tuple[int, int] | None = None,
) -> tf.Tensor:
    """WGAN-GP's penalty mean_i (‖∇_x̂ D(x̂_i)‖₂ − 1)², paper eq. 7's second term.

    x̂ = ε · real + (1 − ε) · fake with ε ~ U(0, 1) per sample (a uniform draw, as
    in WGAN-GP and DESIGN.md §3; not a normal one). The gradient comes from a tape
    nested inside the caller's, so the penalty itself can be differentiated with
    respect to the critic's weights. The norm is sqrt(Σ g² + 1e-12): finite
    gradient at g = 0.

    Args:
        critic_fn: maps (B, H, W, C) images to per-sample scores, (B,) or (B, ...)
            patch maps; the score of a sample is the mean of its entries.
        real: (B, H, W, C) real faces.
        fake: (B, H, W, C) edited faces (the caller stops their gradient if wanted).
        epsilon: optional (B,) mixing weights in [0, 1]; drawn when None.
        seed: optional shape-[2] integer seed for a reproducible draw
            (tf.random.stateless_uniform); None uses the global generator.

    Returns:
        Scalar.
    """
    real = tf.cast(real, tf.float32)
    fake = tf.cast(fake, tf.float32)
    batch = tf.shape(real)[0]
    if epsilon is None:
        if seed is None:
            epsilon = tf.random.uniform([batch])
        else:
            epsilon = tf.random.stateless_uniform([batch], seed=seed)
    epsilon = tf.reshape(tf.cast(epsilon, tf.float32), [-1, 1, 1, 1])
    interpolated = epsilon * real + (1.0 - epsilon) * fake
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        # Summed inside the tape: the sum must be recorded for the gradient to flow.
        # Samples are independent, so its gradient is each sample's own gradient.
        total = tf.reduce_sum(_per_sample_mean(critic_fn(interpolated)))
    gradients = tf.cast(tape.gradient(total, interpolated), tf.float32)
    norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]) + _NORM_EPSILON)
    return tf.reduce_mean(tf.square(norms - 1.0))


def au_regression(predicted: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Mean squared AU error over AUs and batch (paper eq. 9 per image; eq. 10 on real faces).

    Mean form: DESIGN.md's λ_exp = 4000 / batch multiplies this mean (160 at
    batch 25), GANimation's weighting.

    Args:
        predicted: (B, 17) AU intensities from the critic's AU head.
        target: (B, 17) AU intensities in [0, 1].

    Returns:
        Scalar.
    """
    return _mean(tf.square(tf.cast(predicted, tf.float32) - tf.cast(target, tf.float32)))


def expression_loss(
    pred_final: tf.Tensor, pred_deformed: tf.Tensor, target: tf.Tensor, beta_d: float
) -> tf.Tensor:
    """‖D_y(I_f) − y_t‖² + β_d ‖D_y(I_d) − y_t‖² (paper eq. 9; DESIGN.md §3).

    The paper asks both the final and the merely deformed image to show the
    target expression, so the deformation carries what it can.

    Args:
        pred_final: (B, 17) AU prediction on the edited image I_f.
        pred_deformed: (B, 17) AU prediction on the deformed image I_d.
        target: (B, 17) target AUs y_t in [0, 1].
        beta_d: weight of the deformed image's term (config `losses.beta_d`).

    Returns:
        Scalar.
    """
    return au_regression(pred_final, target) + beta_d * au_regression(pred_deformed, target)


def calibration_moments(labels: tf.Tensor, predicted: tf.Tensor) -> tf.Tensor:
    """Per-AU moments E[y], E[p], E[y²], E[y·p] of labels y and head readings p.

    What `calibrated_au_targets` fits its line to; a run keeps a moving average of them.

    Args:
        labels: (B, 17) true AU intensities of real faces.
        predicted: (B, 17) the critic's AU head on the same faces.

    Returns:
        (4, 17) float32.
    """
    y, p = tf.cast(labels, tf.float32), tf.cast(predicted, tf.float32)
    return tf.stack([tf.reduce_mean(y, 0), tf.reduce_mean(p, 0), tf.reduce_mean(y * y, 0),
                     tf.reduce_mean(y * p, 0)])


def au_calibration_line(moments: tf.Tensor, min_variance: float = 1e-3
                        ) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-AU least-squares line p ≈ a·y + b of head readings p on labels y.

    The slope is clipped to [0, 1] (never ask more than the labels); AUs whose labels
    barely vary in the moments (variance below `min_variance`) get slope 0 and read
    their mean.

    Args:
        moments: (4, 17) from `calibration_moments` (or their moving average).
        min_variance: smallest label variance a slope is fitted on.

    Returns:
        slope a and intercept b, each (17,) float32, without gradient.
    """
    moments = tf.stop_gradient(tf.cast(moments, tf.float32))
    mean_y, mean_p, mean_yy, mean_yp = tf.unstack(moments)
    variance = mean_yy - mean_y * mean_y
    covariance = mean_yp - mean_y * mean_p
    fitted = variance >= min_variance
    slope = tf.where(fitted, tf.clip_by_value(
        covariance / tf.maximum(variance, min_variance), 0.0, 1.0), 0.0)
    return slope, mean_p - slope * mean_y


def calibrated_au_targets(target: tf.Tensor, moments: tf.Tensor) -> tf.Tensor:
    """What the AU head reads, on average, on a real face that carries `target`.

    An AU regressor trained with squared error reads faces it has not memorised shrunk
    toward the mean (on held-out synthetic faces the independent regressor's slopes are
    0.17–0.75). Asking the head for the labels themselves on an edit therefore rewards
    an edit that exaggerates the expression; asking for its line a·y + b
    (`au_calibration_line`), fitted on held-out real faces, asks for a face like the
    real one.

    Args:
        target: (B, 17) target AUs in [0, 1].
        moments: (4, 17) from `calibration_moments` (or their moving average).

    Returns:
        (B, 17) float32 targets for the head's reading.
    """
    slope, intercept = au_calibration_line(moments)
    return slope * tf.cast(target, tf.float32) + intercept


def cycle_loss(reconstructed: tf.Tensor, original: tf.Tensor) -> tf.Tensor:
    """Cycle consistency, mean |I_f' − I_o| (paper eq. 11; GANimation's L1 mean).

    Args:
        reconstructed: (B, H, W, 3) the edit mapped back to the source AUs, I_f'.
        original: (B, H, W, 3) the input face I_o.

    Returns:
        Scalar.
    """
    return _mean(tf.abs(tf.cast(reconstructed, tf.float32) - tf.cast(original, tf.float32)))


def identity_loss(emb_a: tf.Tensor, emb_b: tf.Tensor) -> tf.Tensor:
    """mean(1 − cos(φ(I_d), φ(I_o))) over the batch (paper eq. 12; DESIGN.md §3).

    Args:
        emb_a: (B, D) face embeddings, e.g. of the deformed images.
        emb_b: (B, D) face embeddings of the inputs.

    Returns:
        Scalar in [0, 2]; 0 when the embeddings point the same way.
    """
    emb_a = tf.math.l2_normalize(tf.cast(emb_a, tf.float32), axis=-1)
    emb_b = tf.math.l2_normalize(tf.cast(emb_b, tf.float32), axis=-1)
    return tf.reduce_mean(1.0 - tf.reduce_sum(emb_a * emb_b, axis=-1))


def composition_loss(grid: tf.Tensor, grid_back: tf.Tensor) -> tf.Tensor:
    """mean |W ∘ W' − Id| (paper eq. 13): the backward cycle grid should undo the forward one.

    (W ∘ W')(p) = W(W'(p)) = compose(W, W') (DESIGN.md §3).

    Args:
        grid: (B, H, W, 2) forward grid W, normalized (x, y).
        grid_back: (B, H, W, 2) the cycle's grid W', normalized (x, y).

    Returns:
        Scalar, in normalized grid units.
    """
    composed = compose(grid, grid_back)
    return _mean(tf.abs(composed - identity_like(composed)))


def grid_tv(grid: tf.Tensor) -> tf.Tensor:
    """Total variation of the displacement W − Id, mean form (paper eq. 14; DESIGN.md §3).

    The mean absolute difference between vertical neighbours plus that between
    horizontal neighbours; differencing W − Id rather than W makes the identity
    (and any translation) cost 0.

    Args:
        grid: (B, H, W, 2) normalized (x, y) grid.

    Returns:
        Scalar, in normalized grid units.
    """
    displacement = _displacement(grid)
    vertical = _mean(tf.abs(displacement[:, 1:] - displacement[:, :-1]))
    horizontal = _mean(tf.abs(displacement[:, :, 1:] - displacement[:, :, :-1]))
    return vertical + horizontal


def grid_magnitude(grid: tf.Tensor, norm: str = "squared", scale_px: float = 0.5) -> tf.Tensor:
    """Distance of W from the identity: keeps deformations small (paper eq. 14; DESIGN.md §3).

    The paper only says it "penalizes the difference" from the identity grid.
    "squared", mean (W − Id)², is DESIGN.md's reading; its pull vanishes as the
    offset does, so sub-pixel offsets survive everywhere (outlines shifted by
    half a pixel). "l1", mean |W − Id|, pulls every offset toward exactly zero
    with the same force, so offsets stay only where the expression loss pays
    for them (docs/training.md, "Where the warp moves"); but it charges a motion
    spread thin over a wide area what it charges the same motion in a few pixels.
    "log", mean s·log(1 + |W − Id| / s), pulls a small offset as hard as "l1" does
    and a large one less (half as hard at s), so concentrated motion is the cheaper
    one: the concave step past "l1", meant against motion leaking around the
    features. In its one run it spread the motion further instead (docs/tuning.md,
    "Nineteenth round"), so no config uses it.

    Args:
        grid: (B, H, W, 2) normalized (x, y) grid.
        norm: "squared", "l1" or "log".
        scale_px: s of the "log" norm in pixels (converted to each axis's normalized
            units); unused by the others.

    Returns:
        Scalar, in (squared) normalized grid units.
    """
    _check_choice("norm", norm, DEFORMATION_NORMS)
    displacement = _displacement(grid)
    if norm == "squared":
        return _mean(tf.square(displacement))
    if norm == "l1":
        return _mean(tf.abs(displacement))
    scale = pixels_to_grid(grid, scale_px)
    return _mean(scale * tf.math.log1p(tf.abs(displacement) / scale))


def mask_loss(mask: tf.Tensor, pull: str = "keep") -> tf.Tensor:
    """The attention-mask regulariser (paper eq. 15, GANimation's form; DESIGN.md §3).

    Args:
        mask: (B, H, W, 1) attention A in [0, 1]; A = 1 keeps the deformed pixel.
        pull: "keep" returns mean(1 − A), pulling A toward 1 so that texture is
            painted only where needed (DESIGN.md's reading); "texture" returns
            mean(A), GANimation's own sign for its mask convention.

    Returns:
        Scalar in [0, 1].
    """
    _check_choice("pull", pull, MASK_PULLS)
    mask = tf.cast(mask, tf.float32)
    return _mean(1.0 - mask) if pull == "keep" else _mean(mask)


def mask_tv(mask: tf.Tensor) -> tf.Tensor:
    """Sum-form total variation of the mask, per sample, averaged over the batch (eq. 15).

    GANimation's smoothness term, Σ |A[i, j+1] − A[i, j]| + Σ |A[i+1, j] − A[i, j]|,
    which its λ_mtv = 1e-5 was tuned for. GANimation also sums over the batch;
    here each sample's sum is averaged over the batch, so the weight does not
    change with the batch size (GANimation's effective weight is batch × λ_mtv).

    Args:
        mask: (B, H, W, 1) attention A in [0, 1].

    Returns:
        Scalar, of the order of the mask's edge length in pixels.
    """
    mask = tf.cast(mask, tf.float32)
    vertical = tf.reduce_sum(tf.abs(mask[:, 1:] - mask[:, :-1]), axis=[1, 2, 3])
    horizontal = tf.reduce_sum(tf.abs(mask[:, :, 1:] - mask[:, :, :-1]), axis=[1, 2, 3])
    return tf.reduce_mean(vertical + horizontal)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise a ValueError naming the argument and the closest valid choice."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}. Received: {name}={value!r}."
                         f"{did_you_mean(value, choices)}")


def _displacement(grid: tf.Tensor) -> tf.Tensor:
    """W − Id in normalized units, float32."""
    grid = tf.cast(grid, tf.float32)
    return grid - identity_like(grid)


def _per_sample_mean(scores: tf.Tensor) -> tf.Tensor:
    """(B, ...) scores → (B,) float32 per-sample means."""
    scores = tf.cast(scores, tf.float32)
    return tf.reduce_mean(tf.reshape(scores, tf.stack([tf.shape(scores)[0], -1])), axis=1)


def _mean(values: tf.Tensor) -> tf.Tensor:
    """Mean over every axis, in float32."""
    return tf.reduce_mean(tf.cast(values, tf.float32))
