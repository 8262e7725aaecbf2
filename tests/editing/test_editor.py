"""Tests for the Editor on the astronaut photograph with a tiny untrained model."""

import numpy as np
import pytest

from defgan_tf.aus import AU_CODES, PRESETS, UnknownExpressionError, au_index
from defgan_tf.data import faces, media
from defgan_tf.editing.backends import images_to_model
from defgan_tf.editing.editor import EditError, Editor


@pytest.fixture(scope="module")
def editor(keras_backend):
    return Editor(keras_backend)


def test_edit_keeps_size_and_changes_only_the_face(editor, astronaut):
    result = editor.edit(astronaut, expression="happy")
    assert result.image.shape == astronaut.shape and result.image.dtype == np.uint8
    assert len(result.faces) == 1
    changed = np.any(result.image != astronaut, axis=-1)
    x0, y0, x1, y1 = result.faces[0].face.box
    assert changed[y0:y1, x0:x1].mean() > 0.3
    outside = np.ones_like(changed)
    outside[y0 - 40:y1 + 30, x0 - 30:x1 + 30] = False
    assert not changed[outside].any()
    assert changed.sum() < 0.1 * changed.size


def test_target_is_the_preset_and_source_is_estimated(editor, keras_backend, astronaut):
    face = editor.edit(astronaut, expression="happy").faces[0]
    np.testing.assert_array_equal(face.target_aus, PRESETS["happy"])
    estimate = keras_backend.estimate_aus(images_to_model(face.crop[None]))[0]
    np.testing.assert_allclose(face.source_aus, estimate, atol=1e-6)


def test_both_faces_of_a_two_face_photo_are_edited(editor, two_faces):
    result = editor.edit(two_faces, aus="AU12=1")
    changed = np.any(result.image != two_faces, axis=-1)
    assert len(result.faces) == 2
    assert changed[:, :512].sum() > 1000 and changed[:, 512:].sum() > 1000
    only_second = editor.edit(two_faces, aus="AU12=1", face_index=1)
    box = only_second.faces[0].face.box
    changed = np.any(only_second.image != two_faces, axis=-1)
    columns = np.nonzero(changed.any(axis=0))[0]
    assert len(only_second.faces) == 1 and box[0] - 40 <= columns.min()


def test_no_face_is_an_error():
    editor_error = pytest.raises(EditError, match=r"no face found \(detector 'hog', image 90×60\)")
    with editor_error:
        Editor(backend=None).edit(np.full((60, 90, 3), 120, np.uint8), expression="happy")


def test_face_too_small_names_the_minimum(keras_backend, astronaut):
    with pytest.raises(EditError, match=r"is 91 px; the minimum is 200 px"):
        Editor(keras_backend, min_face_size=200).edit(astronaut, expression="happy")


def test_face_index_out_of_range(editor, astronaut):
    with pytest.raises(EditError, match=r"--face-index 3 is out of range: found 1 face\(s\)"):
        editor.edit(astronaut, expression="happy", face_index=3)


def test_video_face_index_out_of_range_says_how_many_faces_were_seen(editor, astronaut):
    blank = np.full_like(astronaut, 90)
    frames = editor.edit_frames([blank, astronaut, astronaut], expression="happy",
                                face_index=1)
    with pytest.raises(EditError, match=r"--face-index 1 is out of range: no frame showed more "
                                        r"than 1 face\(s\), numbered 0–0"):
        list(frames)
    # −1 counts from the smallest, as for photos
    edited = list(editor.edit_frames([blank, astronaut], expression="happy", face_index=-1))
    assert np.array_equal(edited[0], blank) and not np.array_equal(edited[1], astronaut)


def test_intensity_and_keep_others(editor):
    source = np.full((1, 17), 0.2, np.float32)
    half = editor.target_aus(source, aus="AU12=1", intensity=0.5)
    expected = np.full(17, 0.1, np.float32)
    expected[au_index("AU12")] = 0.6
    np.testing.assert_allclose(half[0], expected, atol=1e-6)
    kept = editor.target_aus(source, aus="AU12=1,AU06=0.5", keep_others=True)
    changed = [AU_CODES[i] for i in np.nonzero(kept[0] != 0.2)[0]]
    assert changed == ["AU06", "AU12"]
    happy = editor.target_aus(source, expression="happy", keep_others=True)
    assert np.count_nonzero(happy[0] != 0.2) == np.count_nonzero(PRESETS["happy"])


def test_bad_targets(editor):
    source = np.zeros((1, 17), np.float32)
    with pytest.raises(UnknownExpressionError, match="Did you mean happy"):
        editor.target_aus(source, expression="hapy")
    with pytest.raises(EditError, match="exactly one target"):
        editor.target_aus(source, expression="happy", aus="AU12=1")
    with pytest.raises(EditError, match="intensity must be a number ≥ 0; received -1"):
        editor.target_aus(source, aus="AU12=1", intensity=-1)


def test_given_source_aus_are_used(editor, astronaut):
    source = np.linspace(0, 1, 17, dtype=np.float32)
    face = editor.edit(astronaut, expression="neutral", source_aus=source).faces[0]
    np.testing.assert_array_equal(face.source_aus, source)
    with pytest.raises(EditError, match=r"must have shape \(1, 17\); received \(2, 17\)"):
        editor.edit(astronaut, expression="happy", source_aus=np.zeros((2, 17)))


def test_maps_and_debug_images(editor, astronaut):
    face = editor.edit(astronaut, expression="surprise", return_maps=True).faces[0]
    size = editor.image_size
    assert face.maps["grid"].shape == (size, size, 2) and face.maps["mask"].shape == (size, size, 1)
    debug = face.debug_images()
    assert list(debug) == ["input", "deformed", "attention", "flow", "difference", "edited"]
    assert all(image.shape == (size, size, 3) and image.dtype == np.uint8
               for image in debug.values())


def test_sweep_all_expressions_and_animation(editor, astronaut):
    sweep = editor.sweep(astronaut, "AU12", steps=4)
    cell = max(editor.image_size, 96)
    assert sweep.shape == (18 + 2 * cell, 70 + 4 * cell, 3)
    grid = editor.all_expressions(astronaut)
    assert grid.shape == (18 + cell, (1 + len(PRESETS)) * cell, 3)
    frames = editor.animate(astronaut, ["neutral", "happy", "source"], frames_per_step=3)
    assert len(frames) == 7 and frames[0].shape == astronaut.shape
    assert not np.array_equal(frames[0], frames[3])
    with pytest.raises(EditError, match="at least 2"):
        editor.sweep(astronaut, "AU12", steps=1)


def test_editor_crops_exactly_like_training_preparation(editor, astronaut, tmp_path):
    media.write_image(tmp_path / "raw" / "astronaut.png", astronaut)
    report = faces.prepare_face_crops(tmp_path / "raw", tmp_path / "crops", editor.image_size)
    crops, _, _ = editor.align(astronaut, editor.find_faces(astronaut))
    np.testing.assert_array_equal(media.read_image(report.written[0]), crops[0])


def test_haar_fallback_edits_with_an_elliptic_mask(keras_backend, astronaut, monkeypatch):
    monkeypatch.setattr(faces, "_dlib_models", lambda: {})
    result = Editor(keras_backend).edit(astronaut, expression="happy")
    face = result.faces[0]
    assert face.face.detector == "haar" and face.face.landmarks68 is None
    np.testing.assert_array_equal(face.mask, faces.face_mask(keras_backend.image_size))
    changed = np.any(result.image != astronaut, axis=-1)
    assert changed.any() and not changed[260:].any()


def test_crop_padding_sets_the_framing(keras_backend, astronaut):
    tight = Editor(keras_backend)
    loose = Editor(keras_backend, padding=0.55)
    face = tight.find_faces(astronaut)
    _, (tight_matrix,), _ = tight.align(astronaut, face)
    _, (loose_matrix,), _ = loose.align(astronaut, face)
    ratio = np.linalg.det(tight_matrix[:, :2]) / np.linalg.det(loose_matrix[:, :2])
    assert np.sqrt(ratio) == pytest.approx((1 + 2 * 0.55) / (1 + 2 * 0.25))
    with pytest.raises(EditError, match=r"crop padding must be in \[0, 2\]; received -0.1"):
        Editor(keras_backend, padding=-0.1)


def test_video_frames_follow_the_face_and_pass_blank_frames(editor, astronaut):
    blank = np.full_like(astronaut, 100)
    frames = [blank, astronaut, np.roll(astronaut, 3, axis=1), astronaut]
    edited = list(editor.edit_frames(frames, expression="happy"))
    assert len(edited) == 4
    np.testing.assert_array_equal(edited[0], blank)  # no face yet: unchanged
    for original, result in zip(frames[1:], edited[1:]):
        changed = np.any(result != original, axis=-1)
        assert changed[76:167, 175:266].mean() > 0.3 and not changed[260:].any()
    with pytest.raises(EditError, match=r"smoothing must be in \[0, 1\); received 1"):
        list(editor.edit_frames(frames, expression="happy", smoothing=1))


def test_landmark_smoothing_is_an_exponential_moving_average():
    from defgan_tf.editing.editor import _smoothed

    before = faces.Face((0, 0, 10, 10), 1.0, np.zeros((5, 2)), np.zeros((68, 2)), "hog")
    after = faces.Face((10, 20, 20, 30), 2.0, np.ones((5, 2)), None, "hog")
    mixed = _smoothed(before, after, 0.6)
    assert mixed.box == (4, 8, 14, 18) and mixed.score == 2.0
    np.testing.assert_allclose(mixed.landmarks5, 0.4)
    assert mixed.landmarks68 is None


def test_faces_below_the_minimum_are_skipped_when_others_are_large(keras_backend, astronaut,
                                                                   caplog):
    import cv2

    large = cv2.resize(astronaut, (768, 768), interpolation=cv2.INTER_CUBIC)
    photo = np.zeros((768, 768 + 512, 3), np.uint8)
    photo[:, :768], photo[:512, 768:] = large, astronaut
    with caplog.at_level("WARNING"):
        result = Editor(keras_backend, min_face_size=120).edit(photo, expression="happy")
    assert "skipping 1 face(s) smaller than 120 px" in caplog.text
    assert len(result.faces) == 1 and result.faces[0].face.box[0] < 768
    assert not np.any(result.image[:, 768:] != photo[:, 768:])
