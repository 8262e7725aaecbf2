"""`au_error`: how far the AUs measured on the edits are from the targets.

Measured by the independent AU regressor (au_regressor.py), never by the critic the
generator was trained against. Pair it with pixel metrics: a regressor can reward
the right AUs on an edit full of artifacts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from defgan_tf.aus import AU_CODES
from defgan_tf.metrics.edit_set import EditSet, group_mean
from defgan_tf.metrics.registry import Metric, MetricOptions, MetricUnavailableError, register

if TYPE_CHECKING:  # imported lazily: `python -m defgan_tf.metrics.au_regressor` runs it
    from defgan_tf.metrics.au_regressor import AURegressor


def mae_per_au(predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Mean absolute error of each AU over (N, 17) arrays, keyed by AU code."""
    errors = np.abs(np.asarray(predicted) - np.asarray(target)).mean(axis=0)
    return {code: float(e) for code, e in zip(AU_CODES, errors)}


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
        """Returns mae (all AUs, all edits), per_au and per_expression MAE."""
        measured = self.regressor.predict(edits.edited)
        errors = np.abs(measured - edits.target_aus)
        return {"mae": float(errors.mean()),
                "per_au": mae_per_au(measured, edits.target_aus),
                "per_expression": group_mean(errors.mean(axis=1), edits.expressions)}
