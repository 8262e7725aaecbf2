"""`ground_truth`: the edit (and the deformed image) against the true render of the target.

Synthetic data only. Whole-image PSNR/SSIM barely reward a correct edit because few
pixels change, so the changed region (pixels where input and truth differ, dilated)
and the drift everywhere else are reported apart (notes/quickstart_feasibility.md,
"Measuring pitfalls"). PSNR is aggregated over the set (identical pairs would make a
per-image PSNR infinite).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from defgan_tf.metrics.edit_set import EditSet
from defgan_tf.metrics.flow_error import moved_pixels
from defgan_tf.metrics.registry import Metric, MetricUnavailableError, register

CHANGE_THRESHOLD = 4 / 255
"""A pixel 'changes' when its largest channel difference exceeds this (in [0, 1] units)."""
DILATION_PX = 1


def psnr(images: np.ndarray, references: np.ndarray) -> float:
    """PSNR (dB) over a whole set, images in [-1, 1] (peak-to-peak 2); inf if identical."""
    mse = float(np.mean((images.astype(np.float64) - references) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(4.0 / mse))


def ssim(images: np.ndarray, references: np.ndarray) -> float:
    """Mean SSIM (11×11 Gaussian window, as tf.image.ssim), images in [-1, 1]."""
    import tensorflow as tf

    return float(tf.reduce_mean(tf.image.ssim(
        tf.constant((images + 1) / 2, tf.float32), tf.constant((references + 1) / 2,
                                                               tf.float32), max_val=1.0)))


def changed_pixels(inputs: np.ndarray, targets: np.ndarray,
                   threshold: float = CHANGE_THRESHOLD, dilation: int = DILATION_PX
                   ) -> np.ndarray:
    """(N, S, S) bool: where the true edit changes the input, dilated by `dilation` px."""
    changed = (np.abs(targets - inputs).max(axis=-1) / 2 > threshold).astype(np.uint8)
    kernel = np.ones((2 * dilation + 1,) * 2, np.uint8)
    return np.stack([cv2.dilate(mask, kernel) for mask in changed]).astype(bool)


def masked_l1(images: np.ndarray, references: np.ndarray, masks: np.ndarray) -> float:
    """Mean |images − references| over the pixels (and channels) where masks is True."""
    count = int(masks.sum())
    if count == 0:
        return float("nan")
    return float((np.abs(images - references).mean(axis=-1) * masks).sum() / count)


@register
class GroundTruth(Metric):
    """PSNR, SSIM, changed-region L1 and unchanged-region drift of edited and deformed."""

    name = "ground_truth"
    needs_ground_truth = True

    def __call__(self, edits: EditSet) -> dict[str, Any]:
        """Returns {"edited": {...}, "deformed": {...}, "changed_area": share of pixels,
        "moved_share": share of the changed region that the true motion moves}.

        With true flows, changed_l1 is also split into the pixels that move
        (changed_l1_moved, where a warp can help) and the rest of the changed region
        (changed_l1_static: texture only, where any motion is wrong)."""
        if edits.targets is None:
            raise MetricUnavailableError("ground_truth needs synthetic data (true target renders).")
        changed = changed_pixels(edits.inputs, edits.targets)
        result: dict[str, Any] = {"changed_area": float(changed.mean())}
        moved = None
        if edits.true_flow is not None:
            moved = moved_pixels(edits.true_flow)
            result["moved_share"] = float((changed & moved).sum() / max(changed.sum(), 1))
        for kind in ("edited", "deformed"):
            images = getattr(edits, kind)
            result[kind] = {"psnr": psnr(images, edits.targets),
                            "ssim": ssim(images, edits.targets),
                            "changed_l1": masked_l1(images, edits.targets, changed),
                            "unchanged_l1": masked_l1(images, edits.targets, ~changed),
                            "l1": float(np.abs(images - edits.targets).mean())}
            if moved is not None:
                result[kind]["changed_l1_moved"] = masked_l1(images, edits.targets,
                                                             changed & moved)
                result[kind]["changed_l1_static"] = masked_l1(images, edits.targets,
                                                              changed & ~moved)
        return result
