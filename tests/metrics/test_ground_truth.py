"""ground_truth on identical images, a known constant error and a local change."""

import math

import numpy as np
import pytest

from defgan_tf.metrics import build_metric
from defgan_tf.metrics.ground_truth import changed_pixels, psnr


def test_identical_images_are_perfect(edits_factory):
    rng = np.random.default_rng(0)
    faces = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    result = build_metric("ground_truth")(edits_factory(
        inputs=faces, edited=faces, deformed=faces, targets=faces,
        regions=np.zeros((2, 16, 16, 17), bool)))
    assert math.isinf(result["edited"]["psnr"])
    assert result["edited"]["ssim"] == pytest.approx(1.0)
    assert result["edited"]["l1"] == 0.0 and result["changed_area"] == 0.0
    assert math.isnan(result["edited"]["changed_l1"])


def test_psnr_of_a_constant_error():
    # MSE 0.04 on a peak-to-peak range of 2: 10·log10(4 / 0.04) = 20 dB.
    assert psnr(np.full((1, 4, 4, 3), 0.2), np.zeros((1, 4, 4, 3))) == pytest.approx(20.0)


def test_changed_region_and_drift_are_separate(edits_factory):
    inputs = np.zeros((1, 16, 16, 3), np.float32)
    targets = inputs.copy()
    targets[0, 8, 8] = 1.0  # the true edit changes one pixel
    changed = changed_pixels(inputs, targets)
    assert changed.sum() == 9 and changed[0, 7:10, 7:10].all()  # dilated by 1 px
    edited = np.full_like(inputs, 0.1)  # misses the change, drifts everywhere by 0.1
    result = build_metric("ground_truth")(edits_factory(
        n=1, inputs=inputs, targets=targets, edited=edited, deformed=inputs,
        regions=np.zeros((1, 16, 16, 17), bool)))
    assert result["edited"]["unchanged_l1"] == pytest.approx(0.1)
    assert result["edited"]["changed_l1"] == pytest.approx((0.9 + 8 * 0.1) / 9)
    assert result["deformed"]["unchanged_l1"] == 0.0
    assert result["changed_area"] == pytest.approx(9 / 256)
