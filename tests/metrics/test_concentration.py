"""concentration on mask-aligned, spread-out and empty edits."""

import numpy as np
import pytest

from defgan_tf.metrics import build_metric


def test_mask_aligned_edit_scores_one(edits_factory):
    edited = np.zeros((2, 8, 8, 3), np.float32)
    edited[:, 1:6, 0:4] = 0.5  # all of the change inside AU12's region (left half)
    result = build_metric("concentration")(edits_factory(edited=edited))
    assert result["share"] == pytest.approx(1.0)
    assert result["area_share"] == pytest.approx(0.5)
    assert result["per_expression"] == {"happy": pytest.approx(1.0), "sad": pytest.approx(1.0)}


def test_uniform_edit_scores_the_area_share(edits_factory):
    edited = np.full((2, 8, 8, 3), 0.3, np.float32)
    assert build_metric("concentration")(edits_factory(edited=edited))["share"] == \
        pytest.approx(0.5)


def test_edit_outside_scores_zero_and_no_edit_is_undefined(edits_factory):
    edited = np.zeros((2, 8, 8, 3), np.float32)
    edited[:, :, 6:] = -0.2
    metric = build_metric("concentration")
    assert metric(edits_factory(edited=edited))["share"] == 0.0
    assert np.isnan(metric(edits_factory())["share"])


def test_offsets_inside_and_outside_the_regions(edits_factory):
    flow = np.zeros((2, 8, 8, 2), np.float32)
    flow[:, :, :4, 1] = 3.0   # inside AU12's region (left half): 3 px down
    flow[:, :, 4:, 0] = -1.5  # outside: 1.5 px left
    result = build_metric("concentration")(edits_factory(flow=flow))
    assert result["offset_inside"] == pytest.approx(3.0)
    assert result["offset_outside"] == pytest.approx(1.5)
    assert result["offset_ratio"] == pytest.approx(2.0)


def test_offset_ratio_is_undefined_without_motion_outside(edits_factory):
    flow = np.zeros((2, 8, 8, 2), np.float32)
    flow[:, :, :4] = 1.0
    result = build_metric("concentration")(edits_factory(flow=flow))
    assert result["offset_outside"] == 0.0
    assert np.isnan(result["offset_ratio"])
