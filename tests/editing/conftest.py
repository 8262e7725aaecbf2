"""Fixtures for the editing tests: the astronaut photograph and a tiny untrained DefGAN."""

import pathlib

import numpy as np
import pytest
import skimage.data

from defgan_tf.config import load_config
from defgan_tf.editing.backends import KerasBackend

SIZE = 32
QUICKSTART = pathlib.Path(__file__).parents[2] / "configs" / "quickstart.yaml"
TINY = [f"model.image_size={SIZE}", "model.generator_width=4", "model.deformation_width=4",
        "model.critic_width=4", "model.n_res=1"]


@pytest.fixture(scope="session")
def astronaut():
    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def two_faces(astronaut):
    """The astronaut next to her mirror image: two faces in one photo."""
    return np.ascontiguousarray(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1))


@pytest.fixture(scope="session")
def tiny_config():
    return load_config(QUICKSTART, TINY)


@pytest.fixture(scope="session")
def tiny_model(tiny_config):
    from defgan_tf.models import build_defgan

    return build_defgan(tiny_config, with_embedder=False)


@pytest.fixture(scope="session")
def keras_backend(tiny_model):
    return KerasBackend(tiny_model, SIZE)
