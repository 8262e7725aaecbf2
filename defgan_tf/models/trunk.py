"""The encoder + residual trunk both generators share (GANimation's generator body)."""

from __future__ import annotations

import keras
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

    def call(self, x, constant=None, return_skips=False):
        """x: (B, H, W, C); constant: optional (B, n) constant channels (the AUs) for the stem.

        Returns the trunk's output; with return_skips, also the encoder's features above
        the trunk's size, finest first: the stem's (H, W) and each downsampling's but the
        last (n_down of them), for a decoder that reads them back (U-Net).
        """
        x = self.stem(x, constant)
        skips = [x]
        for layer in self.downs:
            x = layer(x)
            skips.append(x)
        for layer in self.blocks:
            x = layer(x)
        return (x, skips[:-1]) if return_skips else x

    def get_config(self):
        return {**super().get_config(), "width": self.width, "n_down": self.n_down,
                "n_res": self.n_res, "stem_kernel": self.stem_kernel, "init_std": self.init_std}


class Generator(keras.Model):
    """What G_D and G_T share: arguments, their validation, the trunk and the config.

    Args:
        width: base width `ch` (paper: 64).
        n_down: encoder downsamplings (2).
        n_res: residual blocks (6).
        stem_kernel / head_kernel: kernels of the first conv and of the heads (7).
        init_std: N(0, σ) initialiser std.
    """

    def __init__(self, width: int = 64, n_down: int = 2, n_res: int = 6, stem_kernel: int = 7,
                 head_kernel: int = 7, init_std: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        if width < 1 or n_down < 0 or n_res < 0:
            raise ValueError(f"{type(self).__name__} needs width ≥ 1, n_down ≥ 0, n_res ≥ 0. "
                             f"Received: width={width}, n_down={n_down}, n_res={n_res}")
        self.width, self.n_down, self.n_res = width, n_down, n_res
        self.stem_kernel, self.head_kernel, self.init_std = stem_kernel, head_kernel, init_std
        self.trunk = EncoderTrunk(width, n_down, n_res, stem_kernel, init_std, name="trunk")

    def decoder_widths(self) -> list[int]:
        """Channels after each ×2 upsampling: 2^(n_down−1)·ch, …, ch."""
        return [self.width * 2 ** (self.n_down - 1 - i) for i in range(self.n_down)]

    def get_config(self):
        return {**super().get_config(), "width": self.width, "n_down": self.n_down,
                "n_res": self.n_res, "stem_kernel": self.stem_kernel,
                "head_kernel": self.head_kernel, "init_std": self.init_std}
