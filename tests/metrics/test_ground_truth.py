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
        inputs=faces, edited=faces, deformed=faces, targets=faces, true_flow=None,
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
        n=1, inputs=inputs, targets=targets, edited=edited, deformed=inputs, true_flow=None,
        regions=np.zeros((1, 16, 16, 17), bool)))
    assert result["edited"]["unchanged_l1"] == pytest.approx(0.1)
    assert result["edited"]["changed_l1"] == pytest.approx((0.9 + 8 * 0.1) / 9)
    assert result["deformed"]["unchanged_l1"] == 0.0
    assert result["changed_area"] == pytest.approx(9 / 256)


def test_changed_region_splits_into_moved_and_texture_only_pixels(edits_factory):
    inputs = np.zeros((1, 16, 16, 3), np.float32)
    targets = inputs.copy()
    targets[0, 4:12, 4:12] = 0.5  # the true edit changes an 8×8 square (10×10 dilated)
    true_flow = np.zeros((1, 16, 16, 2), np.float32)
    true_flow[0, :, :8, 0] = 1.0  # the left half moves: 10 × 5 changed pixels move
    edited = targets.copy()
    edited[0, :, 8:] = 0.0  # right: the texture change missed
    result = build_metric("ground_truth")(edits_factory(
        n=1, inputs=inputs, targets=targets, edited=edited, deformed=inputs,
        true_flow=true_flow, regions=np.zeros((1, 16, 16, 17), bool)))
    assert result["moved_share"] == pytest.approx(50 / 100)
    assert result["edited"]["changed_l1_moved"] == 0.0
    # Static: columns 8-12 (50 pixels), 4 × 8 of them carry the missed 0.5.
    assert result["edited"]["changed_l1_static"] == pytest.approx(0.5 * 32 / 50)
    assert result["deformed"]["changed_l1_moved"] == pytest.approx(0.5 * 32 / 50)
    assert "changed_l1_moved" not in build_metric("ground_truth")(edits_factory(
        n=1, inputs=inputs, targets=targets, edited=edited, deformed=inputs, true_flow=None,
        regions=np.zeros((1, 16, 16, 17), bool)))["edited"]
