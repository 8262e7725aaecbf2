"""Tests for the Keras port of dlib's face descriptor: agreement with dlib, wiring checks, cache."""

import dataclasses
import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from defgan_tf.aus import NUM_AUS
from defgan_tf.data.synthetic import make_identity, render
from defgan_tf.dlib_models import model_folder, model_path
from defgan_tf.identity import dlib_resnet
from defgan_tf.identity.dlib_format import DlibFormatError, parse_network


@pytest.fixture(scope="module")
def models():
    return requires_dlib_models()


@pytest.fixture(scope="module")
def dlib():
    return pytest.importorskip("dlib", reason="needs the `faces` extra (dlib-bin)")


@pytest.fixture(scope="module")
def network(models):
    with open(model_path("descriptor"), "rb") as handle:
        return parse_network(handle.read())


@pytest.fixture(scope="module")
def model(network):
    model = dlib_resnet.build_model()
    dlib_resnet.assign_dlib_weights(model, network)
    return model


def _astronaut_chips(dlib, models) -> list[np.ndarray]:
    """13 chips of scikit-image's portrait: 3 photo scales × 3 paddings, 4 jitters."""
    photo = skimage.data.astronaut()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(model_path("five")))
    chips = []
    for scale in (0.5, 1.0, 1.6):
        scaled = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        box = max(detector(scaled, 1), key=lambda rect: rect.area())
        shape = predictor(scaled, box)
        chips += [dlib.get_face_chip(scaled, shape, 150, padding) for padding in (0.1, 0.25, 0.4)]
    chips += dlib.jitter_image(chips[4], 2) + dlib.jitter_image(chips[4], 2, disturb_colors=True)
    return chips


def _synthetic_faces(count: int) -> list[np.ndarray]:
    """`count` synthetic identities with random expressions, rendered at 150×150."""
    rng = np.random.default_rng(0)
    aus = rng.uniform(0, 1, (count, NUM_AUS)) * (rng.uniform(0, 1, (count, NUM_AUS)) < 0.3)
    return [render(make_identity(seed), aus[seed], 150).image for seed in range(count)]


def test_matches_dlib_on_face_chips(model, dlib, models):
    noise = np.random.default_rng(0).integers(0, 256, (2, 150, 150, 3), dtype=np.uint8)
    chips = _astronaut_chips(dlib, models) + _synthetic_faces(8) + list(noise)
    assert len(chips) >= 20
    reference = dlib.face_recognition_model_v1(str(model_path("descriptor")))
    expected = np.array([reference.compute_face_descriptor(chip) for chip in chips])

    got = model.predict(np.stack(chips).astype(np.float32), verbose=0)

    norms = np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1)
    cosine = (got * expected).sum(1) / norms
    assert cosine.min() >= 0.9999
    assert np.abs(got - expected).max() <= 1e-3
    # Raw descriptors are not unit length (dlib normalises nowhere).
    assert np.linalg.norm(got, axis=1).min() > 1.1


def test_zero_padded_add_pads_bottom_right_and_channels():
    small = np.arange(2 * 2 * 1, dtype=np.float32).reshape(1, 2, 2, 1) + 1
    large = np.full((1, 3, 3, 2), 10, np.float32)
    out = np.asarray(dlib_resnet.ZeroPaddedAdd()([small, large]))
    expected = np.full((1, 3, 3, 2), 10, np.float32)
    expected[0, :2, :2, 0] += small[0, :, :, 0]
    np.testing.assert_array_equal(out, expected)


def test_model_shapes(model):
    assert model.input_shape == (None, 150, 150, 3)
    assert model.output_shape == (None, 128)
    assert model.get_layer("stage3_block0_conv1").output.shape[1:3] == (3, 3)
    assert model.get_layer("stage3_block0_add").output.shape[1:] == (4, 4, 256)


def test_other_networks_are_refused(network):
    short = dataclasses.replace(network, layers=network.layers[:-1])
    with pytest.raises(DlibFormatError, match="^short.dat: expected fc_no_bias 256→128 after the "
                       "last of 107 layers, found nothing"):
        dlib_resnet.assign_dlib_weights(dlib_resnet.build_model(), short, "short.dat")
    stem = dataclasses.replace(network.layers[0], stride=(1, 1))
    restrided = dataclasses.replace(network, layers=(stem, *network.layers[1:]))
    with pytest.raises(DlibFormatError, match=r"layer 0 at byte \d+: expected con stem_conv"):
        dlib_resnet.assign_dlib_weights(dlib_resnet.build_model(), restrided)


def test_load_model_converts_once_and_caches(models, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    source = model_path("descriptor")
    with open(source, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    first = dlib_resnet.load_model()
    cached = sorted(p.name for p in (tmp_path / "defgan_tf").iterdir())
    assert cached == [f"dlib_resnet_v1_{digest}.weights.h5"]

    def no_parsing(*args, **kwargs):
        raise AssertionError("the cached weights should have been used")

    monkeypatch.setattr(dlib_resnet, "parse_network", no_parsing)
    second = dlib_resnet.load_model(source)
    chip = np.random.default_rng(1).uniform(0, 255, (1, 150, 150, 3)).astype(np.float32)
    np.testing.assert_array_equal(first.predict(chip, verbose=0), second.predict(chip, verbose=0))


def test_unwritable_cache_only_warns(models, tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with pytest.warns(UserWarning, match="Could not cache converted dlib weights"):
        model = dlib_resnet.load_model()
    assert model.output_shape == (None, 128)


def test_unreadable_cache_is_rebuilt(models, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = dlib_resnet.cached_weights_path(Path(model_path("descriptor")))
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not an HDF5 file")
    with pytest.warns(UserWarning, match="Ignoring unreadable cached weights"):
        model = dlib_resnet.load_model()
    assert cached.stat().st_size > 20_000_000  # 5.6 M float32 weights written back
    assert model.output_shape == (None, 128)


def test_missing_model_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="Received: model_path='.*missing.dat'"):
        dlib_resnet.load_model(tmp_path / "missing.dat")


def requires_dlib_models():
    """Skips unless the `faces` extra's model files are installed (CI installs them)."""
    if model_folder() is None:
        pytest.skip("needs the `faces` extra (face-recognition-models)")
    return model_folder()
