"""`concentration`: share of the change |edit − input| inside the regions the edit's AUs move.

The paper's Fig. 5 argument: a deformation-first edit changes the face where the
expression acts and leaves the rest alone. Regions are the renderer's per-AU masks,
so the metric needs synthetic data. The area share of those regions is the chance level
a change spread evenly over the image would score.

The same regions also split the deformation: the mean offset length inside them against
outside them (`offset_ratio`), the reading of "the mean deformation inside the target
AUs' regions against that outside them". `flow_error.offset_moved / offset_static` is
the stricter reading: its "inside" is only the pixels the true motion moves (a third of
the regions' area), so the offsets a feature's motion spreads into its own region count
as outside there.
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


def offsets_inside_outside(flow: np.ndarray, masks: np.ndarray) -> tuple[float, float]:
    """Mean offset length (pixels) over all masked pixels, and over all others.

    Args:
        flow: (N, S, S, 2) backward flow in pixels.
        masks: (N, S, S) bool.

    Returns:
        (inside, outside); NaN for a side with no pixels.
    """
    lengths = np.linalg.norm(flow.astype(np.float64), axis=-1)
    inside = float(lengths[masks].mean()) if masks.any() else float("nan")
    outside = float(lengths[~masks].mean()) if (~masks).any() else float("nan")
    return inside, outside


@register
class Concentration(Metric):
    """Share of the edit's change inside the moved AU regions, the area share, and the
    deformation's mean length inside against outside those regions."""

    name = "concentration"
    needs_ground_truth = True

    def __call__(self, edits: EditSet) -> dict[str, Any]:
        """Returns share (mean over edits that changed something), area_share,
        offset_inside / offset_outside (px) and their offset_ratio (edits that change
        some AU region; NaN for a deformation that is zero outside), per_expression."""
        if edits.regions is None:
            raise MetricUnavailableError("concentration needs AU region masks (synthetic data).")
        masks = edits.moved_regions()
        shares = inside_share(edits.inputs, edits.edited, masks)
        has_regions = masks.any(axis=(1, 2))
        shares = np.where(has_regions, shares, np.nan)
        finite = shares[np.isfinite(shares)]
        inside, outside = offsets_inside_outside(edits.flow[has_regions], masks[has_regions])
        return {"share": float(finite.mean()) if len(finite) else float("nan"),
                "area_share": float(masks[has_regions].mean()) if has_regions.any()
                else float("nan"),
                "offset_inside": inside,
                "offset_outside": outside,
                "offset_ratio": inside / outside if outside > 0 else float("nan"),
                "per_expression": group_mean(shares, edits.expressions)}
