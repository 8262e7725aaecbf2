"""identity with a known descriptor (the mean colour) and with dlib's network."""

import numpy as np
import pytest

from defgan_tf.dlib_models import model_folder
from defgan_tf.metrics.identity import IdentityDistance


def mean_colour(images):
    return np.asarray(images).mean(axis=(1, 2))


def test_distance_of_a_known_descriptor(edits_factory):
    edited = np.zeros((2, 8, 8, 3), np.float32)
    edited[1] = [0.3, 0.4, 0.0]  # second edit: descriptor moves by 0.5
    result = IdentityDistance(mean_colour)(edits_factory(edited=edited))
    assert result["distance"] == pytest.approx(0.25)
    assert result["per_expression"] == {"happy": 0.0, "sad": pytest.approx(0.5)}
    assert result["same_person_rate"] == 1.0


def test_dlib_descriptor_of_identical_faces_is_zero(edits_factory):
    requires_dlib_models()
    from defgan_tf.metrics import MetricOptions

    metric = IdentityDistance.from_options(MetricOptions())
    faces = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    result = metric(edits_factory(inputs=faces, edited=faces))
    assert result["distance"] == pytest.approx(0.0, abs=1e-5)


def test_without_the_faces_extra_the_metric_is_unavailable(monkeypatch):
    from defgan_tf.identity import dlib_resnet
    from defgan_tf.metrics import MetricOptions, MetricUnavailableError

    def not_installed():
        raise ModuleNotFoundError("install the faces extra: pip install -e '.[faces]'")

    monkeypatch.setattr(dlib_resnet, "default_model_path", not_installed)
    with pytest.raises(MetricUnavailableError, match=r"the 'dlib_resnet' face descriptor "
                       r"could not be loaded: .*install the faces extra"):
        IdentityDistance.from_options(MetricOptions())


def requires_dlib_models():
    """Skips unless the `faces` extra's model files are installed (CI installs them)."""
    if model_folder() is None:
        pytest.skip("needs the `faces` extra (face-recognition-models)")
    return model_folder()
