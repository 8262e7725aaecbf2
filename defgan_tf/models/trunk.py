"""The encoder + residual trunk both generators share (GANimation's generator body)."""

from __future__ import annotations

from keras import layers

from defgan_tf.models.layers import ConvNormReLU, ResidualBlock


class EncoderTrunk(layers.Layer):
    """stem conv(k) → n_down × conv4/2 (doubling width) → n_res residual blocks.

    Args:
        width: base width `ch`; the trunk runs at ch · 2^n_down channels.
        n_down: stride-2 downsamplings.
        n_res: residual blocks.
        stem_kernel: kernel of the first conv (7 in GANimation).
        init_std: std of the N(0, σ) initialiser.
    """

    def __init__(self, width: int, n_down: int, n_res: int, stem_kernel: int = 7,
                 init_std: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.width, self.n_down, self.n_res = width, n_down, n_res
        self.stem_kernel, self.init_std = stem_kernel, init_std
        self.stem = ConvNormReLU(width, stem_kernel, init_std=init_std, name="stem")
        self.downs = [
            ConvNormReLU(width * 2 ** (i + 1), 4, stride=2, init_std=init_std, name=f"down{i}")
            for i in range(n_down)
        ]
        self.blocks = [
            ResidualBlock(width * 2**n_down, init_std=init_std, name=f"res{i}")
            for i in range(n_res)
        ]

    def call(self, x):
        x = self.stem(x)
        for layer in self.downs + self.blocks:
            x = layer(x)
        return x

    def get_config(self):
        return {**super().get_config(), "width": self.width, "n_down": self.n_down,
                "n_res": self.n_res, "stem_kernel": self.stem_kernel, "init_std": self.init_std}
