"""EditSet baselines, changed AUs / moved regions, and the synthetic builder."""

import numpy as np
import pytest

from defgan_tf.aus import AU_CODES, PRESETS, au_index
from defgan_tf.metrics.edit_set import (
    expression_targets,
    group_mean,
    single_au_targets,
    synthetic_edit_set,
)


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


def test_single_au_targets_move_one_au_each_toward_the_far_side():
    faces = np.array([np.full(17, 0.2), np.full(17, 0.9)], np.float32)
    faces[0, 3] = 0.5
    targets, labels = single_au_targets(faces, 0.5)
    assert targets.shape == (34, 17) and labels == list(AU_CODES) * 2
    changed = targets != np.repeat(faces, 17, axis=0)
    np.testing.assert_array_equal(changed, np.tile(np.eye(17, dtype=bool), (2, 1)))
    first, second = targets[:17], targets[17:]
    assert first[0, 0] == pytest.approx(0.7) and first[3, 3] == 1.0  # up: 0.2, 0.5 (clipped)
    assert second[5, 5] == pytest.approx(0.4)  # down from 0.9
    with pytest.raises(ValueError, match=r"must be in \(0, 1\]. Received: 0"):
        single_au_targets(faces, 0)


def test_single_au_edit_set_moves_only_the_chosen_aus_region(tiny_data_dir):
    edits = synthetic_edit_set(None, tiny_data_dir, 32, {}, faces=2, split="all",
                               single_au_step=0.5)
    assert len(edits) == 34 and edits.expressions == tuple(AU_CODES) * 2
    # Each edit's true motion lies inside its own AU's region.
    for i, k in ((1, au_index("AU02")), (17 + 15, au_index("AU26"))):
        moving = np.linalg.norm(edits.true_flow[i], axis=-1) > 0.05
        assert moving.any() and not (moving & ~edits.regions[i, ..., k]).any()


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


def test_texture_branch_paints_the_true_warp_with_each_edits_aus(tiny_data_dir):
    presets = {"neutral": PRESETS["neutral"], "surprise": PRESETS["surprise"]}
    au01 = au_index("AU01")

    def texture(deformed, source_aus, target_aus):  # target AU01 up, source AU mean down
        shift = target_aus[:, au01] - source_aus.mean(axis=1)
        return {"edited": deformed + shift[:, None, None, None]}

    edits = synthetic_edit_set(None, tiny_data_dir, 32, presets, faces=2, split="all",
                               batch_size=3, texture=texture)
    assert synthetic_edit_set(None, tiny_data_dir, 32, presets, faces=2,
                              split="all").textured_true_warp is None
    assert edits.target_aus[:, au01].max() > 0  # surprise raises AU01, neutral does not
    assert edits.source_aus.mean(axis=1).min() > 0  # every input shows some AU
    offset = (edits.target_aus[:, au01] - edits.source_aus.mean(axis=1))[:, None, None, None]
    np.testing.assert_allclose(edits.textured_true_warp, edits.true_warp().edited + offset,
                               atol=1e-6)
