"""warp_parts: each mix of learned and true flow isolates one kind of warp error."""

import dataclasses

import numpy as np
import pytest

from defgan_tf.aus import au_index
from defgan_tf.metrics import MetricOptions, build_metric
from defgan_tf.metrics.warp_parts import WarpParts


def _edits(edits_factory, learned_flow):
    """Random faces whose true edit moves the left half 1 px along y; targets = that warp."""
    rng = np.random.default_rng(0)
    inputs = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    true_flow = np.zeros((2, 16, 16, 2), np.float32)
    true_flow[:, :, :8, 1] = 1.0
    edits = edits_factory(inputs=inputs, true_flow=true_flow, flow=learned_flow(true_flow),
                          regions=np.zeros((2, 16, 16, 17), bool))
    return dataclasses.replace(edits, targets=edits.warp_inputs(true_flow))


def test_the_true_flow_is_exact_in_every_part_but_half(edits_factory):
    result = build_metric("warp_parts")(_edits(edits_factory, lambda t: t))["changed_l1"]
    for name in ("learned", "where_true_moves", "true_length", "true_direction"):
        assert result[name] == pytest.approx(0.0, abs=1e-6), name
    assert result["half"] > 0.1


def test_each_part_repairs_its_own_error(edits_factory):
    metric = build_metric("warp_parts")

    def parts(edits):
        return metric(edits)["changed_l1"]

    overshoot = parts(_edits(edits_factory, lambda t: 2 * t))
    assert overshoot["half"] == pytest.approx(0.0, abs=1e-6)
    assert overshoot["true_length"] == pytest.approx(0.0, abs=1e-6)
    assert overshoot["true_direction"] == pytest.approx(overshoot["learned"])

    def moves_the_static_half(t):
        flow = t.copy()
        flow[:, :, 8:, 0] = 1.0
        return flow

    spill = parts(_edits(edits_factory, moves_the_static_half))
    assert spill["where_true_moves"] == pytest.approx(0.0, abs=1e-6)
    assert spill["learned"] > 0.05  # the changed region reaches 1 px into the static half

    sideways = parts(_edits(edits_factory, lambda t: t[..., ::-1].copy()))  # along x
    assert sideways["true_direction"] == pytest.approx(0.0, abs=1e-6)
    assert sideways["true_length"] == pytest.approx(sideways["learned"])


def test_no_edit_baseline_is_the_input_everywhere(edits_factory):
    edits = _edits(edits_factory, lambda t: t).no_edit()
    result = build_metric("warp_parts")(edits)["changed_l1"]
    assert len(set(result.values())) == 1 and result["learned"] > 0.1


def test_texture_branch_on_the_true_warp_is_read_only_when_given(edits_factory):
    edits = _edits(edits_factory, lambda t: 2 * t)
    metric = build_metric("warp_parts")
    assert "true_warp_textured" not in metric(edits)["changed_l1"]
    brightened = dataclasses.replace(edits, textured_true_warp=edits.targets + 0.25)
    result = metric(brightened)["changed_l1"]
    assert result["true_warp_textured"] == pytest.approx(0.25)
    assert result["learned"] == metric(edits)["changed_l1"]["learned"]
    assert brightened.no_edit().textured_true_warp is None  # baselines have no texture branch


class MeanRegressor:
    """Reads AU12 as an image's mean value, so every warped image reads differently."""

    def predict(self, images):
        aus = np.zeros((len(images), 17), np.float32)
        aus[:, au_index("AU12")] = np.asarray(images).mean(axis=(1, 2, 3))
        return aus


def test_au_error_of_each_part_reads_its_own_image(edits_factory):
    edits = _edits(edits_factory, lambda t: 2 * t)
    result = WarpParts(MeanRegressor())(edits)
    for name, flow in (("learned", edits.flow), ("half", 0.5 * edits.flow)):
        measured = MeanRegressor().predict(edits.warp_inputs(flow))
        assert result["au_mae"][name] == pytest.approx(
            np.abs(measured - edits.target_aus).mean()), name
    assert result["au_mae"]["learned"] != pytest.approx(result["au_mae"]["true_length"])
    assert "au_mae" not in build_metric("warp_parts")(edits)  # no regressor: pixels only


def test_the_critics_reading_of_each_part_is_reported_beside_the_regressors(edits_factory):
    edits = _edits(edits_factory, lambda t: 2 * t)
    critic_reads = MeanRegressor().predict  # a callable, as Backend.estimate_aus is
    result = build_metric("warp_parts", MetricOptions(critic=critic_reads))(edits)
    assert "au_mae" not in result  # no regressor given
    for name, flow in (("learned", edits.flow), ("half", 0.5 * edits.flow)):
        measured = critic_reads(edits.warp_inputs(flow))
        assert result["critic_au_mae"][name] == pytest.approx(
            np.abs(measured - edits.target_aus).mean()), name
    assert result["critic_au_mae"]["learned"] != pytest.approx(result["critic_au_mae"]["half"])
    assert set(result["critic_au_mae"]) == set(result["changed_l1"])
