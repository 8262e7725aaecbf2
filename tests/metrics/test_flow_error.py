"""flow_error on a pure translation and the zero-flow baseline."""

import numpy as np
import pytest

from defgan_tf.metrics import build_metric


def test_pure_translation(edits_factory):
    true_flow = np.zeros((2, 8, 8, 2), np.float32)
    true_flow[:, :, :4, 0] = 2.0  # the left half moves 2 px along x
    predicted = true_flow + np.array([0.0, 1.0], np.float32)  # 1 px off along y everywhere
    result = build_metric("flow_error")(edits_factory(flow=predicted, true_flow=true_flow))
    assert result["epe"] == pytest.approx(1.0)
    assert result["epe_moved"] == pytest.approx(1.0)
    assert result["offset_moved"] == pytest.approx(np.sqrt(5.0))
    assert result["offset_static"] == pytest.approx(1.0)
    assert result["moved_area"] == pytest.approx(0.5)
    # Moved pixels: predicted (2, 1) against true (2, 0): full length, 26.6° off.
    assert result["along_moved"] == pytest.approx(1.0)
    assert result["cosine_moved"] == pytest.approx(2 / np.sqrt(5))


def test_agreement_separates_length_from_direction(edits_factory):
    true_flow = np.zeros((2, 8, 8, 2), np.float32)
    true_flow[:, :, :4, 1] = 1.0
    for predicted, along, cosine in ((-0.5 * true_flow, -0.5, -1.0),
                                     (true_flow[..., ::-1].copy(), 0.0, 0.0)):
        result = build_metric("flow_error")(edits_factory(flow=predicted, true_flow=true_flow))
        assert result["along_moved"] == pytest.approx(along)
        assert result["cosine_moved"] == pytest.approx(cosine)


def test_no_edit_error_is_the_true_motion(edits_factory):
    true_flow = np.zeros((2, 8, 8, 2), np.float32)
    true_flow[:, :, :4] = [3.0, 4.0]
    result = build_metric("flow_error")(edits_factory(true_flow=true_flow).no_edit())
    assert result["epe_moved"] == pytest.approx(5.0) and result["epe_static"] == 0.0
    assert result["along_moved"] == 0.0 and np.isnan(result["cosine_moved"])
    assert result["per_expression"] == {"happy": pytest.approx(2.5), "sad": pytest.approx(2.5)}


def test_agreement_per_target_reads_each_label_alone(edits_factory):
    true_flow = np.zeros((2, 8, 8, 2), np.float32)
    true_flow[:, :, :4, 1] = 1.0
    predicted = true_flow.copy()
    predicted[1] *= -2.0  # the second edit ("sad") moves twice as far the wrong way
    result = build_metric("flow_error")(edits_factory(flow=predicted, true_flow=true_flow))
    moved = result["per_expression_moved"]
    assert moved["happy"] == {"epe_moved": 0.0, "along_moved": pytest.approx(1.0),
                              "cosine_moved": pytest.approx(1.0)}
    assert moved["sad"] == {"epe_moved": pytest.approx(3.0), "along_moved": pytest.approx(-2.0),
                            "cosine_moved": pytest.approx(-1.0)}


def test_offset_by_distance_bands_the_leak_around_the_moved_pixels(edits_factory):
    true_flow = np.zeros((2, 16, 16, 2), np.float32)
    true_flow[:, :, :4, 0] = 1.0  # columns 0-3 move; column 4 is 1 px away, 5 is 2 px, ...
    predicted = np.zeros_like(true_flow)
    predicted[..., 1] = np.arange(16, dtype=np.float32)  # offset = column index
    regions = np.zeros((2, 16, 16, 17), bool)
    result = build_metric("flow_error")(edits_factory(
        flow=predicted, true_flow=true_flow, inputs=np.zeros((2, 16, 16, 3), np.float32),
        regions=regions))
    assert result["offset_by_distance"] == {
        "moved": pytest.approx(1.5), "1px": pytest.approx(4.0), "2px": pytest.approx(5.0),
        "3-4px": pytest.approx(6.5), "5-8px": pytest.approx(9.5),
        "beyond_8px": pytest.approx(13.5)}
    # An edit that moves nothing has no distances: its pixels count in no band but the last.
    still = build_metric("flow_error")(edits_factory(
        flow=predicted, true_flow=np.zeros_like(true_flow),
        inputs=np.zeros((2, 16, 16, 3), np.float32), regions=regions))["offset_by_distance"]
    assert np.isnan(still["moved"]) and np.isnan(still["1px"])
    assert still["beyond_8px"] == pytest.approx(7.5)
