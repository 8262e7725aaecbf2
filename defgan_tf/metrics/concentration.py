"""`concentration`: share of the change |edit − input| inside the regions the edit's AUs move.

The paper's Fig. 5 argument: a deformation-first edit changes the face where the
expression acts and leaves the rest alone. Regions are the renderer's per-AU masks,
so the metric needs synthetic data. The area share of those regions is the chance level
a change spread evenly over the image would score.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from defgan_tf.metrics.edit_set import EditSet, group_mean
from defgan_tf.metrics.registry import Metric, MetricUnavailableError, register


def inside_share(inputs: np.ndarray, edited: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per edit: sum of |edited − input| inside `masks` over the sum everywhere.

    Args:
        inputs, edited: (N, S, S, 3) float32.
        masks: (N, S, S) bool.

    Returns:
        (N,) float64 in [0, 1]; NaN where the edit changed nothing.
    """
    change = np.abs(edited.astype(np.float64) - inputs).sum(axis=-1)
    total = change.sum(axis=(1, 2))
    inside = (change * masks).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)


@register
class Concentration(Metric):
    """Share of the edit's change inside the moved AU regions, and the area share."""

    name = "concentration"
    needs_ground_truth = True

    def __call__(self, edits: EditSet) -> dict[str, Any]:
        """Returns share (mean over edits that changed something), area_share, per_expression."""
        if edits.regions is None:
            raise MetricUnavailableError("concentration needs AU region masks (synthetic data).")
        masks = edits.moved_regions()
        shares = inside_share(edits.inputs, edits.edited, masks)
        has_regions = masks.any(axis=(1, 2))
        shares = np.where(has_regions, shares, np.nan)
        finite = shares[np.isfinite(shares)]
        return {"share": float(finite.mean()) if len(finite) else float("nan"),
                "area_share": float(masks[has_regions].mean()) if has_regions.any()
                else float("nan"),
                "per_expression": group_mean(shares, edits.expressions)}
