"""`flow_error`: endpoint error of the predicted deformation against the true motion.

The direct test of the paper's claim that the deformation generator learns real facial
motion without flow labels. Synthetic data only (true_edit_flow); reported inside the
moved pixels (true displacement above MOVED_PX) and outside them, where the ideal
deformation is zero.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from defgan_tf.metrics.edit_set import EditSet, group_mean
from defgan_tf.metrics.registry import Metric, MetricUnavailableError, register

MOVED_PX = 0.25
"""A pixel 'moves' in an edit when its true displacement exceeds this many pixels."""

LEAK_BANDS = (("1px", 0.0, 1.5), ("2px", 1.5, 2.5), ("3-4px", 2.5, 4.5), ("5-8px", 4.5, 8.5),
              ("beyond_8px", 8.5, np.inf))
"""Distance bands (px, lower exclusive) from the nearest moved pixel for `offset_by_distance`."""


def moved_pixels(true_flow: np.ndarray) -> np.ndarray:
    """(N, S, S) bool: where the true displacement exceeds MOVED_PX."""
    return np.linalg.norm(true_flow, axis=-1) > MOVED_PX


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


def distance_to_moved(moved: np.ndarray) -> np.ndarray:
    """(N, S, S) Euclidean distance (px) of each pixel to its edit's nearest moved pixel.

    0 on the moved pixels; infinite everywhere in an edit that moves nothing.
    """
    distances = np.full(moved.shape, np.inf, np.float32)
    for i, mask in enumerate(moved):
        if mask.any():
            distances[i] = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2,
                                                 cv2.DIST_MASK_PRECISE)
    return distances


def offset_by_distance(flow: np.ndarray, moved: np.ndarray) -> dict[str, float]:
    """Mean predicted offset (px) on the moved pixels and in bands of distance from them.

    The true motion falls off within a pixel or two of the moved pixels; a predicted
    field that is still long several pixels out moves skin that stays put, which costs
    pixels where the truth changes nothing (docs/tuning.md, "Twelfth round").
    """
    offsets = np.linalg.norm(flow, axis=-1)
    distances = distance_to_moved(moved)
    profile = {"moved": _masked_mean(offsets, moved)}
    for name, low, high in LEAK_BANDS:
        profile[name] = _masked_mean(offsets, (distances > low) & (distances <= high))
    return profile


def _masked_mean(values: np.ndarray, masks: np.ndarray) -> float:
    return float(values[masks].mean()) if masks.any() else float("nan")


@register
class FlowError(Metric):
    """Endpoint error (px) inside / outside the moved pixels, and mean offset lengths."""

    name = "flow_error"
    needs_ground_truth = True

    def __call__(self, edits: EditSet) -> dict[str, Any]:
        """Returns epe, epe_moved, epe_static, offset_moved/static (|predicted|),
        along_moved and cosine_moved (see `agreement`), offset_by_distance (the
        predicted offset by distance from the moved pixels), moved_area, per_expression (epe)
        and per_expression_moved ({label: epe_moved, along_moved, cosine_moved}; with
        single-AU edits, `evaluate --single-au`, where each AU's motion goes)."""
        if edits.true_flow is None:
            raise MetricUnavailableError("flow_error needs synthetic data (true_edit_flow).")
        errors = endpoint_errors(edits.flow, edits.true_flow)
        moved = moved_pixels(edits.true_flow)
        offsets = np.linalg.norm(edits.flow, axis=-1)
        along, cosine = agreement(edits.flow, edits.true_flow, moved)
        return {"epe": float(errors.mean()),
                "epe_moved": _masked_mean(errors, moved),
                "epe_static": _masked_mean(errors, ~moved),
                "offset_moved": _masked_mean(offsets, moved),
                "offset_static": _masked_mean(offsets, ~moved),
                "along_moved": along,
                "cosine_moved": cosine,
                "offset_by_distance": offset_by_distance(edits.flow, moved),
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
