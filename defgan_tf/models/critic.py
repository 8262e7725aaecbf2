"""D: the WGAN-GP critic with an AU regression head (GANimation's discriminator)."""

from __future__ import annotations

import keras
from keras import layers

from defgan_tf.aus import NUM_AUS
from defgan_tf.models.layers import weight_init


class Critic(keras.Model):
    """n_down × [conv4/2, LeakyReLU 0.01] (widths ch·2^i), no normalisation (WGAN-GP).

    Args:
        image_size: input side; must be divisible by 2^n_down.
        width: base width (paper: 64).
        n_down: stride-2 convs (log2(H) − 1 by default: 6 at 128).
        init_std: N(0, σ) initialiser std.
        projection: condition the score on the AUs the face should show, with a projection
            term ⟨V·aus, mean features⟩ (Miyato & Koyama 2018). The unconditional score
            only asks whether a face looks real; this one asks whether it looks like a
            real face *with those AUs*, a signal on where a feature moves, not just
            how much the AU head reads.

    Call:
        image: (B, H, W, 3) in [-1, 1].
        aus: optional (B, 17), the AUs the image should show: labels for real faces,
            targets for edits. Only a projection critic uses them; without them its
            score leaves the projection term out (the AU head never needs them).
        Returns (scores (B,) float32 — the patch map averaged, plus the projection, and
        aus (B, 17) float32, unbounded regression of AU intensities in [0, 1]).
    """

    def __init__(self, image_size: int = 128, width: int = 64, n_down: int = 6,
                 init_std: float = 0.02, projection: bool = False, **kwargs):
        super().__init__(**kwargs)
        if n_down < 1 or image_size % 2**n_down:
            raise ValueError(f"Critic needs image_size divisible by 2^n_down, n_down ≥ 1. "
                             f"Received: image_size={image_size}, n_down={n_down}")
        self.image_size, self.width, self.n_down, self.init_std = (
            image_size, width, n_down, init_std)
        self.projection = projection
        # Keras casts every floating argument of a call to the compute dtype; under
        # mixed_float16 that rounds the AUs the projection reads to ~1e-3 before its
        # float32 Dense. Each conv converts the image itself, `call` the AUs.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.convs = [
            layers.Conv2D(width * 2**i, 4, strides=2, padding="same",
                          kernel_initializer=weight_init(init_std), name=f"down{i}")
            for i in range(n_down)
        ]
        final = image_size // 2**n_down
        self.score_head = layers.Conv2D(1, 3, padding="same", use_bias=False,
                                        kernel_initializer=weight_init(init_std),
                                        name="score_head", dtype="float32")
        self.au_head = layers.Conv2D(NUM_AUS, final, padding="valid", use_bias=False,
                                     kernel_initializer=weight_init(init_std), name="au_head",
                                     dtype="float32")
        self.au_projection = layers.Dense(
            width * 2**(n_down - 1), use_bias=False, kernel_initializer=weight_init(init_std),
            name="au_projection", dtype="float32") if projection else None

    def call(self, image, aus=None):
        x = image
        for layer in self.convs:
            x = keras.ops.leaky_relu(layer(x), negative_slope=0.01)
        scores = keras.ops.mean(self.score_head(x), axis=(1, 2, 3))
        if self.au_projection is not None and aus is not None:
            features = keras.ops.mean(keras.ops.cast(x, "float32"), axis=(1, 2))
            embedded = self.au_projection(keras.ops.cast(aus, "float32"))
            scores = scores + keras.ops.sum(embedded * features, axis=-1)
        return scores, keras.ops.reshape(self.au_head(x), (-1, NUM_AUS))

    @property
    def regression_variables(self) -> list:
        """The variables the AU estimate depends on: the trunk and the AU head."""
        return [v for layer in (*self.convs, self.au_head) for v in layer.trainable_variables]

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "width": self.width,
                "n_down": self.n_down, "init_std": self.init_std,
                "projection": self.projection}
