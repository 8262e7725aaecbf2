"""Tests for face detection, alignment, cropping and paste-back on a real photograph."""

import logging

import cv2
import numpy as np
import pytest
import skimage.data

from defgan_tf.data import faces
from defgan_tf.data.media import read_image

SIZE = 64


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def astronaut_face(astronaut):
    found = faces.detect_faces(astronaut)
    assert len(found) == 1
    return found[0]


def _warped_mask(face, image_shape, size=SIZE):
    matrix = faces.alignment_matrix(face.landmarks5, size)
    mask = faces.face_mask(size, faces.transform_points(face.landmarks68, matrix))
    to_photo = cv2.invertAffineTransform(matrix)
    return cv2.warpAffine(mask, to_photo, image_shape[1::-1]), matrix, mask


def test_detects_the_astronauts_face_with_landmarks(astronaut_face):
    x0, y0, x1, y1 = astronaut_face.box
    # The box dlib's HOG detector reports at upsample 1 (mission patch rejected by score).
    assert (x0, y0, x1, y1) == (175, 76, 266, 167)
    assert astronaut_face.landmarks68.shape == (68, 2)
    inside = (astronaut_face.landmarks5 >= [x0, y0]) & (astronaut_face.landmarks5 <= [x1, y1])
    assert inside.all()
    # Right eye (image left) is at smaller x than the left eye.
    assert astronaut_face.landmarks5[2, 0] < astronaut_face.landmarks5[0, 0]


def test_crop_matches_dlib_face_chip(astronaut, astronaut_face):
    dlib = pytest.importorskip("dlib")
    models = faces._dlib_models()
    x0, y0, x1, y1 = astronaut_face.box
    shape = models["five"](astronaut, dlib.rectangle(x0, y0, x1 - 1, y1 - 1))
    reference = dlib.get_face_chip(astronaut, shape, 128, faces.CROP_PADDING)
    crop = faces.crop_face(astronaut, faces.alignment_matrix(astronaut_face.landmarks5, 128), 128)
    assert np.abs(crop.astype(float) - reference).mean() < 1.0


def test_landmarks_land_on_the_template(astronaut_face):
    matrix = faces.alignment_matrix(astronaut_face.landmarks5, 128)
    moved = faces.transform_points(astronaut_face.landmarks5, matrix)
    assert np.abs(moved - faces.template_points(128)).max() < 3.0


def test_large_photo_is_searched_small_and_cropped_through_a_pyramid(astronaut, astronaut_face):
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    face = faces.detect_faces(big)[0]
    np.testing.assert_allclose(face.landmarks5 / 4, astronaut_face.landmarks5, atol=2.5)
    small = faces.crop_face(big, faces.alignment_matrix(face.landmarks5, SIZE), SIZE)
    reference = faces.detect_faces(astronaut)[0]
    expected = faces.crop_face(
        astronaut, faces.alignment_matrix(reference.landmarks5, SIZE), SIZE)
    assert np.abs(small.astype(float) - expected).mean() < 6.0


def test_unchanged_crop_pastes_back_nearly_unchanged(astronaut, astronaut_face):
    warped, matrix, mask = _warped_mask(astronaut_face, astronaut.shape, size=128)
    crop = faces.crop_face(astronaut, matrix, 128)
    result = faces.paste_back(astronaut, crop, matrix, mask)
    inside = warped > 0
    error = (result.astype(float) - astronaut)[inside]
    psnr = 10 * np.log10(255**2 / np.mean(error**2))
    assert psnr > 30
    assert np.array_equal(result[~inside], astronaut[~inside])


def test_changed_crop_changes_only_the_face(astronaut, astronaut_face):
    warped, matrix, mask = _warped_mask(astronaut_face, astronaut.shape)
    crop = 255 - faces.crop_face(astronaut, matrix, SIZE)
    result = faces.paste_back(astronaut, crop, matrix, mask, color_match=False)
    changed = np.any(result != astronaut, axis=-1)
    assert not (changed & (warped == 0)).any()
    x0, y0, x1, y1 = astronaut_face.box
    assert changed[y0:y1, x0:x1].mean() > 0.5
    rows, cols = np.nonzero(changed)
    assert rows.min() >= y0 - 30 and rows.max() <= y1 + 20  # forehead and chin
    assert cols.min() >= x0 - 10 and cols.max() <= x1 + 10
    assert np.abs(result[astronaut_face.box[1] + 50, astronaut_face.box[0] + 45].astype(int)
                  - astronaut[astronaut_face.box[1] + 50, astronaut_face.box[0] + 45]).max() > 50


def test_color_match_removes_a_tint(astronaut, astronaut_face):
    warped, matrix, mask = _warped_mask(astronaut_face, astronaut.shape)
    crop = faces.crop_face(astronaut, matrix, SIZE)
    tinted = np.clip(crop.astype(int) + np.array([-30, 0, 20]), 0, 255).astype(np.uint8)
    untinted = faces.paste_back(astronaut, crop, matrix, mask, color_match=False)
    matched = faces.paste_back(astronaut, tinted, matrix, mask, color_match=True)
    raw = faces.paste_back(astronaut, tinted, matrix, mask, color_match=False)
    inside = warped > 0.99
    tint_raw = (raw[inside].astype(float) - untinted[inside]).mean(0)
    tint_matched = (matched[inside].astype(float) - untinted[inside]).mean(0)
    np.testing.assert_allclose(tint_raw, [-30, 0, 20], atol=1.5)
    assert np.abs(tint_matched).max() < 1.5


def test_two_faces_in_one_image(astronaut):
    both = np.concatenate([astronaut, astronaut[:, ::-1]], axis=1)
    found = faces.detect_faces(both)
    assert len(found) == 2
    assert sorted(f.box[0] < 512 for f in found) == [False, True]


def test_no_face_gives_empty_list():
    gray = np.full((200, 300, 3), 128, np.uint8)
    assert faces.detect_faces(gray) == []
    # searched at 1024 px, a 1×3000 strip would be 0 px high: cv2.resize refuses that
    assert faces.detect_faces(np.full((1, 3000, 3), 128, np.uint8)) == []


def test_face_mask_is_feathered_and_zero_at_the_border():
    mask = faces.face_mask(SIZE)
    assert mask.dtype == np.float32 and mask.min() == 0.0 and mask.max() == pytest.approx(1.0)
    assert mask[0].max() == mask[-1].max() == mask[:, 0].max() == mask[:, -1].max() == 0.0
    assert mask[SIZE // 2, SIZE // 2] == pytest.approx(1.0)
    assert ((mask > 0) & (mask < 1)).sum() > SIZE  # a soft seam, not a hard edge


def test_haar_fallback_without_dlib(astronaut, astronaut_face, monkeypatch, caplog):
    monkeypatch.setattr(faces, "_dlib_models", lambda: {})
    with caplog.at_level(logging.WARNING):
        found = faces.detect_faces(astronaut)
    assert "dlib or the face-recognition-models files are not installed" in caplog.text
    assert len(found) == 1 and found[0].detector == "haar" and found[0].landmarks68 is None
    assert np.abs(found[0].landmarks5 - astronaut_face.landmarks5).max() < 8


def test_unknown_detector_suggests_the_closest():
    with pytest.raises(faces.FaceError, match=r"Unknown detector 'hgo'.*Did you mean hog\?"):
        faces.detect_faces(np.zeros((8, 8, 3), np.uint8), detector="hgo")


def test_prepare_face_crops_reports_bad_files(tmp_path, astronaut):
    raw = tmp_path / "raw"
    (raw / "sub").mkdir(parents=True)
    cv2.imwrite(str(raw / "sub" / "astronaut.jpg"), astronaut[..., ::-1])
    cv2.imwrite(str(raw / "wall.png"), np.full((100, 100, 3), 200, np.uint8))
    (raw / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    report = faces.prepare_face_crops(raw, tmp_path / "crops", SIZE)
    assert report.written == [tmp_path / "crops" / "sub" / "astronaut_face0.png"]
    assert read_image(report.written[0]).shape == (SIZE, SIZE, 3)
    assert [p.name for p, _ in report.unreadable] == ["broken.jpg"]
    assert [p.name for p in report.no_face] == ["wall.png"]
    assert report.summary().splitlines()[0] == (
        "1 face crops written; 1 unreadable files, 1 images without a face.")


def test_photos_sharing_a_stem_get_their_own_crops(tmp_path, astronaut):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("portrait.png", "portrait.jpg", "portrait_jpg.png", "solo.png"):
        cv2.imwrite(str(raw / name), astronaut[..., ::-1])
    report = faces.prepare_face_crops(raw, tmp_path / "crops", SIZE, "haar")
    assert sorted(p.name for p in report.written) == [
        "portrait_jpg_face0.png", "portrait_jpg_png_face0.png", "portrait_png_face0.png",
        "solo_face0.png"]
    assert sorted(p.name for p in (tmp_path / "crops").iterdir()) == sorted(
        p.name for p in report.written)  # one file per crop reported, nothing half-written


def test_model_files_are_found_without_importing_the_package():
    from defgan_tf.dlib_models import model_folder

    folder = model_folder()
    assert folder is not None and (folder / "shape_predictor_5_face_landmarks.dat").is_file()
