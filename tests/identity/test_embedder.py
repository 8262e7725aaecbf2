"""Tests for the face embedders: chip geometry, training sizes, gradients, registry."""

import dataclasses

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from defgan_tf.config import ConfigError, IdentityConfig
from defgan_tf.dlib_models import model_folder, model_path
from defgan_tf.identity import embedder as embedder_module
from defgan_tf.identity.embedder import (
    EMBEDDERS,
    DlibResNetEmbedder,
    build_embedder,
    chip_box,
    chip_from_crop,
)


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    requires_dlib_models()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        return build_embedder("dlib_resnet")


@pytest.fixture(scope="module")
def astronaut_shape():
    """(dlib module, photo, 5-point shape of the astronaut's face)."""
    dlib = pytest.importorskip("dlib", reason="needs the `faces` extra (dlib-bin)")
    requires_dlib_models()
    photo = skimage.data.astronaut()
    box = max(dlib.get_frontal_face_detector()(photo, 1), key=lambda rect: rect.area())
    predictor = dlib.shape_predictor(str(model_path("five")))
    return dlib, photo, predictor(photo, box)


@pytest.mark.parametrize(
    ("padding", "box"), [(0.25, (0.0, 1.0)), (0.5, (0.125, 0.875)), (0.0, (-0.25, 1.25))]
)
def test_chip_box(padding, box):
    assert chip_box(padding) == pytest.approx(box)


def test_chip_box_rejects_negative_padding():
    with pytest.raises(ValueError, match=r"Received: crop_padding=-0.1"):
        chip_box(-0.1)


def test_chip_from_crop_is_identity_on_a_dlib_chip():
    chip = np.random.default_rng(0).uniform(0, 255, (2, 150, 150, 3)).astype(np.float32)
    np.testing.assert_allclose(chip_from_crop(chip, 0.25), chip, atol=1e-3)


def test_chip_from_crop_pads_black_beyond_a_tight_crop():
    crop = np.full((1, 64, 64, 3), 200.0, np.float32)
    chip = chip_from_crop(crop, 0.0).numpy()
    # The chip spans t ∈ [-0.25, 1.25] and the crop t ∈ [0, 1]: chip pixel u lies at
    # t = 1.5·u/149 − 0.25, inside the crop from u = 24.83 to 124.17.
    assert chip[0, 75, 24, 0] == 0.0 and chip[0, 75, 125, 0] == 0.0
    np.testing.assert_allclose(chip[0, 25:125, 25:125], 200.0, rtol=1e-6)


@pytest.mark.parametrize(("size", "padding", "min_cosine"),
                         [(64, 0.25, 0.99), (128, 0.25, 0.999), (128, 0.4, 0.998),
                          (256, 0.25, 0.9999)])
def test_crops_map_to_dlibs_chip(embedder, astronaut_shape, size, padding, min_cosine):
    """A crop aligned by dlib at (size, padding) gives nearly dlib's 150/0.25 chip."""
    dlib, photo, shape = astronaut_shape
    crop = dlib.get_face_chip(photo, shape, size, padding).astype(np.float32)
    reference = dlib.get_face_chip(photo, shape, 150, 0.25).astype(np.float32)
    chip = chip_from_crop(crop[None], padding)
    assert np.abs(chip[0].numpy() - reference)[10:140, 10:140].mean() < 4.0

    got, expected = embedder.model(tf.concat([chip, reference[None]], 0)).numpy()
    assert got @ expected / np.linalg.norm(got) / np.linalg.norm(expected) >= min_cosine


@pytest.mark.parametrize("size", [64, 128])
def test_embed_at_training_sizes(embedder, size):
    images = tf.random.uniform((3, size, size, 3), -1.0, 1.0, seed=size)
    raw = embedder.embed(images)
    unit = embedder.embed(images, normalize=True)
    assert raw.shape == (3, 128) and unit.shape == (3, 128)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)


def test_embed_of_a_150_chip_is_the_network_on_that_chip(embedder):
    chip = np.random.default_rng(2).uniform(0, 255, (1, 150, 150, 3)).astype(np.float32)
    np.testing.assert_allclose(
        embedder.embed(chip / 127.5 - 1.0), embedder.model(chip), atol=1e-5
    )


def test_gradients_reach_the_input(embedder):
    source = tf.random.uniform((2, 64, 64, 3), -1.0, 1.0, seed=3)
    deformed = tf.Variable(tf.random.uniform((2, 64, 64, 3), -1.0, 1.0, seed=4))
    with tf.GradientTape() as tape:
        cosine = tf.reduce_sum(
            embedder.embed(source, normalize=True) * embedder.embed(deformed, normalize=True), -1
        )
        loss = tf.reduce_mean(1.0 - cosine)
    gradient = tape.gradient(loss, deformed).numpy()
    assert np.isfinite(gradient).all()
    assert np.abs(gradient).max() > 0
    assert not embedder.model.trainable_weights


def test_embed_rejects_non_rgb(embedder):
    with pytest.raises(ValueError, match=r"\(B, S, S, 3\). Received: shape \(2, 64, 64\)"):
        embedder.embed(tf.zeros((2, 64, 64)))


def test_registry():
    assert build_embedder("none") is None
    with pytest.raises(ConfigError) as error:
        build_embedder("dlib_resnt")
    assert str(error.value) == (
        "Unknown identity embedder. Received: identity.embedder='dlib_resnt'; valid: "
        "'dlib_resnet', 'none'. Did you mean dlib_resnet?"
    )
    with pytest.raises(ConfigError, match="valid: 'dlib_resnet', 'none'.$"):
        build_embedder("openface")


def test_a_model_file_that_cannot_be_loaded_is_a_config_error(tmp_path):
    missing = tmp_path / "missing.dat"
    with pytest.raises(ConfigError, match=rf"^identity.embedder='dlib_resnet', "
                       rf"identity.model_path='{missing}': dlib model file not found"):
        build_embedder("dlib_resnet", missing)
    garbage = tmp_path / "garbage.dat"
    garbage.write_bytes(b"not a dlib network")
    with pytest.raises(ConfigError, match=rf"identity.model_path='{garbage}': "):
        build_embedder("dlib_resnet", garbage)


def test_registry_matches_the_config_choices():
    choices = next(f for f in dataclasses.fields(IdentityConfig) if f.name == "embedder")
    assert set(choices.metadata["choices"]) == set(EMBEDDERS)
    assert EMBEDDERS["dlib_resnet"] is DlibResNetEmbedder


def test_default_padding_is_the_training_crops():
    faces = pytest.importorskip("defgan_tf.data.faces", reason="needs OpenCV")
    assert embedder_module.DEFAULT_CROP_PADDING == faces.CROP_PADDING


def requires_dlib_models():
    """Skips unless the `faces` extra's model files are installed (CI installs them)."""
    if model_folder() is None:
        pytest.skip("needs the `faces` extra (face-recognition-models)")
    return model_folder()
