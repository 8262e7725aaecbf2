"""FID against closed forms, KID on equal and shifted sets, unreadable Inception weights."""

import numpy as np
import pytest

from defgan_tf.metrics import MetricUnavailableError
from defgan_tf.metrics.fid import (
    fid_from_features,
    frechet_distance,
    inception_features,
    kid_from_features,
)


def test_frechet_distance_diagonal_closed_form():
    # Diagonal covariances commute: d² = |Δμ|² + Σ (σ1 + σ2 − 2 √(σ1 σ2)).
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 5.0 + (1 + 4 - 4) + (4 + 1 - 4) + 0.0
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected)


def test_frechet_distance_rotated_covariances():
    # Same spectrum, rotated: invariant to the rotation applied to both.
    rotation = np.array([[np.cos(0.7), -np.sin(0.7)], [np.sin(0.7), np.cos(0.7)]])
    s1, s2 = np.diag([1.0, 9.0]), np.diag([4.0, 1.0])
    plain = frechet_distance(np.zeros(2), s1, np.ones(2), s2)
    turned = frechet_distance(np.zeros(2), rotation @ s1 @ rotation.T, rotation @ np.ones(2),
                              rotation @ s2 @ rotation.T)
    assert plain == pytest.approx(2 + (1 + 4 - 4) + (9 + 1 - 6))
    assert turned == pytest.approx(plain)


def test_fid_of_samples_approaches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, (20000, 2))
    b = rng.normal([3.0, 0.0], 2.0, (20000, 2))
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-6)
    assert fid_from_features(a, b) == pytest.approx(9 + 2 * (1 + 4 - 4), rel=0.03)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    shifted = rng.normal(1.0, 1.0, (200, 8))
    same, different = kid_from_features(a, b, subsets=20), kid_from_features(a, shifted,
                                                                              subsets=20)
    assert abs(same) < 0.02 < different


def test_kid_needs_two_images():
    with pytest.raises(ValueError, match="at least 2 images per set. Received 1 real"):
        kid_from_features(np.zeros((1, 4)), np.zeros((5, 4)))


def test_a_corrupt_weights_file_is_a_metric_error_naming_it(tmp_path):
    weights = tmp_path / "inception.h5"
    weights.write_bytes(b"not an HDF5 file")
    with pytest.raises(MetricUnavailableError,
                       match=r"inception\.h5 is not a readable no-top InceptionV3 weights file "
                             r"\(.*file signature not found\)") as error_info:
        inception_features(weights)
    assert error_info.value.fix == "--inception-weights"
