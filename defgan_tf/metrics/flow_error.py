"""`flow_error`: endpoint error of the predicted deformation against the true motion.

The direct test of the paper's claim that the deformation generator learns real facial
motion without flow labels. Synthetic data only (true_edit_flow); reported inside the
moved pixels (true displacement above MOVED_PX) and outside them, where the ideal
deformation is zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from defgan_tf.metrics.edit_set import EditSet, group_mean
from defgan_tf.metrics.registry import Metric, MetricUnavailableError, register

MOVED_PX = 0.25
"""A pixel 'moves' in an edit when its true displacement exceeds this many pixels."""


def endpoint_errors(flow: np.ndarray, true_flow: np.ndarray) -> np.ndarray:
    """(N, S, S) Euclidean distance (pixels) between predicted and true displacements."""
    return np.linalg.norm(flow.astype(np.float64) - true_flow, axis=-1)


def agreement(flow: np.ndarray, true_flow: np.ndarray, masks: np.ndarray) -> tuple[float, float]:
    """How the predicted flow lines up with the true one over the masked pixels.

    An endpoint error above "no motion" can mean a wrong length or a wrong direction;
    these two numbers tell which.

    Returns:
        (along, cosine): along = Σ f·t / Σ |t|², the least-squares length of the
        prediction along the true motion (1 right, < 1 short, 0 no motion); cosine =
        Σ f·t / √(Σ |f|² Σ |t|²), 1 when the prediction is the true motion scaled,
        NaN when either is zero everywhere.
    """
    f = flow[masks].astype(np.float64)
    t = true_flow[masks].astype(np.float64)
    dot, true_power, power = float((f * t).sum()), float((t * t).sum()), float((f * f).sum())
    along = dot / true_power if true_power > 0 else float("nan")
    cosine = dot / np.sqrt(power * true_power) if power * true_power > 0 else float("nan")
    return along, float(cosine)


def _masked_mean(values: np.ndarray, masks: np.ndarray) -> float:
    return float(values[masks].mean()) if masks.any() else float("nan")


@register
class FlowError(Metric):
    """Endpoint error (px) inside / outside the moved pixels, and mean offset lengths."""

    name = "flow_error"
    needs_ground_truth = True

    def __call__(self, edits: EditSet) -> dict[str, Any]:
        """Returns epe, epe_moved, epe_static, offset_moved/static (|predicted|),
        along_moved and cosine_moved (see `agreement`), moved_area, per_expression (epe)
        and per_expression_moved ({label: epe_moved, along_moved, cosine_moved}; with
        single-AU edits, `evaluate --single-au`, where each AU's motion goes)."""
        if edits.true_flow is None:
            raise MetricUnavailableError("flow_error needs synthetic data (true_edit_flow).")
        errors = endpoint_errors(edits.flow, edits.true_flow)
        moved = np.linalg.norm(edits.true_flow, axis=-1) > MOVED_PX
        offsets = np.linalg.norm(edits.flow, axis=-1)
        along, cosine = agreement(edits.flow, edits.true_flow, moved)
        return {"epe": float(errors.mean()),
                "epe_moved": _masked_mean(errors, moved),
                "epe_static": _masked_mean(errors, ~moved),
                "offset_moved": _masked_mean(offsets, moved),
                "offset_static": _masked_mean(offsets, ~moved),
                "along_moved": along,
                "cosine_moved": cosine,
                "moved_area": float(moved.mean()),
                "per_expression": group_mean(errors.mean(axis=(1, 2)), edits.expressions),
                "per_expression_moved": _per_label_moved(edits, errors, moved)}


def _per_label_moved(edits: EditSet, errors: np.ndarray, moved: np.ndarray
                     ) -> dict[str, dict[str, float]]:
    labels = np.asarray(edits.expressions)
    table = {}
    for label in dict.fromkeys(edits.expressions):
        chosen = labels == label
        along, cosine = agreement(edits.flow[chosen], edits.true_flow[chosen], moved[chosen])
        table[label] = {"epe_moved": _masked_mean(errors[chosen], moved[chosen]),
                        "along_moved": along, "cosine_moved": cosine}
    return table
