"""`au_error`: how far the AUs measured on the edits are from the targets.

Measured by the independent AU regressor (au_regressor.py), never by the critic the
generator was trained against. Pair it with pixel metrics: a regressor can reward
the right AUs on an edit full of artifacts.

`critic_au_error` is the same error read by the model's own critic (its AU head, the
reading the generator was trained to satisfy). Next to `au_error` it shows how much
of the AU the generator learned to show its critic the independent regressor does not
see; its `ground_truth` baseline is the head's own error on true faces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from defgan_tf.aus import AU_CODES
from defgan_tf.metrics.edit_set import EditSet, group_mean, in_batches
from defgan_tf.metrics.registry import Metric, MetricOptions, MetricUnavailableError, register

if TYPE_CHECKING:  # imported lazily: `python -m defgan_tf.metrics.au_regressor` runs it
    from defgan_tf.metrics.au_regressor import AURegressor


def mae_per_au(predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Mean absolute error of each AU over (N, 17) arrays, keyed by AU code."""
    errors = np.abs(np.asarray(predicted) - np.asarray(target)).mean(axis=0)
    return {code: float(e) for code, e in zip(AU_CODES, errors)}


def reading_slope(measured: np.ndarray, target: np.ndarray, min_variance: float = 1e-3
                  ) -> float:
    """Mean over AUs of the least-squares slope of the reading on the target intensity.

    On the true renders it is how much a reader shrinks AUs toward their mean (1 = reads
    every intensity as it is); on the edits, read by the same reader, a larger slope
    than on the truth means the edits show stronger expressions than the true ones.
    AUs whose targets vary by less than `min_variance` are left out; NaN if none vary.
    """
    target = np.asarray(target, np.float64)
    measured = np.asarray(measured, np.float64)
    centred = target - target.mean(axis=0)
    variance = (centred ** 2).mean(axis=0)
    covariance = (centred * (measured - measured.mean(axis=0))).mean(axis=0)
    fitted = variance >= min_variance
    return float(np.mean(covariance[fitted] / variance[fitted])) if fitted.any() else float("nan")


@register
class AUError(Metric):
    """Mean absolute error (intensity in [0, 1]) between target AUs and measured AUs.

    Args:
        regressor: a loaded AURegressor.
    """

    name = "au_error"

    def __init__(self, regressor: AURegressor) -> None:
        self.regressor = regressor

    @classmethod
    def from_options(cls, options: MetricOptions) -> AUError:
        from defgan_tf.metrics.au_regressor import load_au_regressor

        if options.au_regressor is None:
            raise MetricUnavailableError(
                "au_error needs the independent AU regressor: train one with `python -m "
                "defgan_tf.metrics.au_regressor --data DATASET --out FILE.keras` and pass "
                "--au-regressor FILE.keras.", fix="--au-regressor")
        return cls(load_au_regressor(options.au_regressor))

    def __call__(self, edits: EditSet) -> dict[str, Any]:
        """Returns mae (all AUs, all edits), per_au and per_expression MAE, and the
        reading's slope on the target AUs (`reading_slope`)."""
        measured = self.regressor.predict(edits.edited)
        errors = np.abs(measured - edits.target_aus)
        return {"mae": float(errors.mean()),
                "slope": reading_slope(measured, edits.target_aus),
                "per_au": mae_per_au(measured, edits.target_aus),
                "per_expression": group_mean(errors.mean(axis=1), edits.expressions)}


class BatchedReader:
    """An AU reading function (B, S, S, 3) → (B, 17) behind the regressor's `predict`.

    Args:
        read: e.g. `Backend.estimate_aus`.
        batch_size: images per call.
    """

    def __init__(self, read: Callable[[np.ndarray], np.ndarray], batch_size: int = 64) -> None:
        self.read, self.batch_size = read, batch_size

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) float32 in [-1, 1] → (N, 17) float32."""
        return in_batches(self.read, images, batch_size=self.batch_size)


@register
class CriticAUError(AUError):
    """au_error read by the model's own critic AU head (see the module docstring)."""

    name = "critic_au_error"

    @classmethod
    def from_options(cls, options: MetricOptions) -> CriticAUError:
        if options.critic is None:
            raise MetricUnavailableError("critic_au_error needs the model's AU head; this "
                                         "model has none (a .tflite export without "
                                         "'estimate_aus').")
        return cls(BatchedReader(options.critic))
