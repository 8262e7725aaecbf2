"""warp_parts: each mix of learned and true flow isolates one kind of warp error."""

import numpy as np
import pytest

from defgan_tf.metrics import build_metric


def _edits(edits_factory, learned_flow):
    """Random faces whose true edit moves the left half 1 px along y; targets = that warp."""
    rng = np.random.default_rng(0)
    inputs = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    true_flow = np.zeros((2, 16, 16, 2), np.float32)
    true_flow[:, :, :8, 1] = 1.0
    edits = edits_factory(inputs=inputs, true_flow=true_flow,
                          regions=np.zeros((2, 16, 16, 17), bool))
    targets = edits.warp_inputs(true_flow)
    return edits_factory(inputs=inputs, targets=targets, true_flow=true_flow,
                         flow=learned_flow(true_flow), regions=edits.regions)


def test_the_true_flow_is_exact_in_every_part_but_half(edits_factory):
    result = build_metric("warp_parts")(_edits(edits_factory, lambda t: t))
    for name in ("learned", "where_true_moves", "true_length", "true_direction"):
        assert result[name] == pytest.approx(0.0, abs=1e-6), name
    assert result["half"] > 0.1


def test_each_part_repairs_its_own_error(edits_factory):
    parts = build_metric("warp_parts")
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
    result = build_metric("warp_parts")(edits)
    assert len(set(result.values())) == 1 and result["learned"] > 0.1
