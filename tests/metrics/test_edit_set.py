"""EditSet baselines, changed AUs / moved regions, and the synthetic builder."""

import numpy as np
import pytest

from defgan_tf.aus import PRESETS, au_index
from defgan_tf.metrics.edit_set import expression_targets, group_mean, synthetic_edit_set


def test_moved_regions_are_the_changed_aus_regions_only(edits_factory):
    edits = edits_factory()
    assert edits.changed_aus()[0].tolist() == [i == au_index("AU12") for i in range(17)]
    moved = edits.moved_regions()
    assert moved[:, :, :4].all() and not moved[:, :, 4:].any()  # AU01's rows not included


def test_baselines_replace_the_model_outputs(edits_factory):
    edits = edits_factory(edited=np.ones((2, 8, 8, 3), np.float32),
                          targets=np.full((2, 8, 8, 3), 0.5, np.float32),
                          true_flow=np.ones((2, 8, 8, 2), np.float32))
    assert np.array_equal(edits.no_edit().edited, edits.inputs)
    assert not edits.no_edit().flow.any()
    assert np.array_equal(edits.ground_truth().deformed, edits.targets)
    assert np.array_equal(edits.ground_truth().flow, edits.true_flow)
    with pytest.raises(ValueError, match="no ground truth"):
        edits_factory(targets=None).ground_truth()


def test_true_warp_moves_the_input_by_the_true_flow(edits_factory):
    ramp = np.broadcast_to(np.arange(8, dtype=np.float32)[None, None, :, None] / 8,
                           (2, 8, 8, 3)).copy()
    flow = np.zeros((2, 8, 8, 2), np.float32)
    flow[..., 0] = 1.0  # every output pixel reads its right-hand neighbour
    warped = edits_factory(inputs=ramp, true_flow=flow).true_warp()
    np.testing.assert_allclose(warped.edited[:, :, :7], ramp[:, :, 1:], atol=1e-6)
    np.testing.assert_allclose(warped.edited[:, :, 7], ramp[:, :, 7])  # border padding
    assert np.array_equal(warped.deformed, warped.edited)
    assert np.array_equal(warped.flow, flow)
    with pytest.raises(ValueError, match="no ground truth"):
        edits_factory(targets=None).true_warp()


def test_expression_targets_jitter_only_active_aus():
    presets = {"neutral": PRESETS["neutral"], "happy": PRESETS["happy"]}
    targets, labels = expression_targets(presets, 3, 0.1, np.random.default_rng(0))
    assert targets.shape == (6, 17) and labels == ["neutral", "happy"] * 3
    assert not targets[0::2].any()  # neutral stays neutral
    happy = targets[1::2]
    assert np.all(np.abs(happy - PRESETS["happy"]) <= 0.1 + 1e-6)
    assert np.all(happy[:, PRESETS["happy"] == 0] == 0)


def test_group_mean_ignores_nan():
    assert group_mean(np.array([1.0, 3.0, np.nan, 2.0]), ["a", "b", "a", "a"]) == \
        {"a": 1.5, "b": 3.0}


def test_synthetic_edit_set_ground_truth_is_consistent(tiny_data_dir):
    presets = {"neutral": PRESETS["neutral"], "surprise": PRESETS["surprise"]}
    edits = synthetic_edit_set(None, tiny_data_dir, 32, presets, faces=2, split="all")
    assert len(edits) == 4 and edits.expressions == ("neutral", "surprise") * 2
    assert edits.inputs.shape == (4, 32, 32, 3) and edits.regions.shape == (4, 32, 32, 17)
    assert edits.inputs.min() >= -1 and edits.inputs.max() <= 1
    # Two edits of one face share its input; surprise moves the brows, so pixels move.
    assert np.array_equal(edits.inputs[0], edits.inputs[1])
    assert np.abs(edits.true_flow[1]).max() > 0.3
    assert edits.moved_regions()[1].any()


def test_texture_branch_paints_the_true_warp_with_each_edits_targets(tiny_data_dir):
    presets = {"neutral": PRESETS["neutral"], "surprise": PRESETS["surprise"]}

    def texture(deformed, target_aus):  # brightens by the edit's AU01 target
        return {"edited": deformed + target_aus[:, au_index("AU01"), None, None, None]}

    edits = synthetic_edit_set(None, tiny_data_dir, 32, presets, faces=2, split="all",
                               batch_size=3, texture=texture)
    assert synthetic_edit_set(None, tiny_data_dir, 32, presets, faces=2,
                              split="all").textured_true_warp is None
    offset = edits.target_aus[:, au_index("AU01"), None, None, None]
    assert offset.max() > 0  # surprise raises AU01, neutral does not
    np.testing.assert_allclose(edits.textured_true_warp, edits.true_warp().edited + offset,
                               atol=1e-6)
