"""Fixtures for the editing tests: the astronaut photograph and a tiny untrained model."""

import keras
import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from defgan_tf.aus import NUM_AUS
from defgan_tf.editing.backends import KerasBackend

SIZE = 32


class StandInDefGAN(keras.Model):
    """A few convolutions with DefGAN's call signature and outputs (untrained, seeded)."""

    def __init__(self, image_size: int = SIZE, **kwargs):
        super().__init__(**kwargs)
        self.image_size = image_size
        init = keras.initializers.RandomNormal(stddev=0.3, seed=1)
        self.field = keras.layers.Conv2D(2, 3, padding="same", kernel_initializer=init)
        self.color = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer=init)
        self.attention = keras.layers.Conv2D(1, 3, padding="same", kernel_initializer=init)
        self.au_head = keras.layers.Dense(NUM_AUS, kernel_initializer=init)

    def build(self, image_shape, source_aus_shape=None, target_aus_shape=None):
        features = (None, self.image_size, self.image_size, 3 + NUM_AUS)
        for layer in (self.field, self.color, self.attention):
            layer.build(features)
        self.au_head.build((None, 3))

    def call(self, image, source_aus, target_aus, training=False):
        change = (target_aus - source_aus)[:, None, None, :]
        tiled = tf.tile(change, [1, self.image_size, self.image_size, 1])
        features = tf.concat([image, tiled], axis=-1)
        axis = tf.linspace(-1.0, 1.0, self.image_size)
        ys, xs = tf.meshgrid(axis, axis, indexing="ij")
        identity = tf.stack([xs, ys], axis=-1)[None]
        grid = identity + 0.05 * tf.tanh(self.field(features))
        color = tf.tanh(self.color(features))
        mask = tf.sigmoid(self.attention(features) + 1.0)
        deformed = 0.9 * image
        return {"edited": mask * deformed + (1 - mask) * color, "deformed": deformed,
                "grid": grid, "color": color, "mask": mask}

    def estimate_aus(self, image):
        return tf.sigmoid(self.au_head(tf.reduce_mean(image, axis=[1, 2])))


@pytest.fixture(scope="session")
def astronaut():
    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def two_faces(astronaut):
    """The astronaut next to her mirror image: two faces in one photo."""
    return np.ascontiguousarray(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1))


@pytest.fixture(scope="session")
def stand_in_model():
    model = StandInDefGAN(SIZE)
    zeros = tf.zeros((1, SIZE, SIZE, 3))
    model(zeros, tf.zeros((1, NUM_AUS)), tf.zeros((1, NUM_AUS)))
    model.estimate_aus(zeros)
    return model


@pytest.fixture(scope="session")
def keras_backend(stand_in_model):
    return KerasBackend(stand_in_model, SIZE)
