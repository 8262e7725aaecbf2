"""Building blocks shared by the generators and the critic (DESIGN.md §2)."""

from __future__ import annotations

import keras
from keras import layers


def weight_init(std: float) -> keras.initializers.Initializer:
    """N(0, std) weights, as GANimation initialises every conv (std 0.02)."""
    return keras.initializers.RandomNormal(stddev=std)


def instance_norm(name: str) -> layers.Layer:
    """Instance normalisation with affine parameters (GroupNormalization with one group/channel)."""
    return layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)


def conv(filters: int, kernel: int, stride: int, std: float, name: str,
         use_bias: bool = False, dtype: str | None = None) -> layers.Conv2D:
    """A 'same'-padded conv; no bias before a normalisation (DESIGN.md §2)."""
    return layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=use_bias,
        kernel_initializer=weight_init(std), name=name, dtype=dtype,
    )


class ConvNormReLU(layers.Layer):
    """conv → instance norm → ReLU, the unit every generator stage is made of."""

    def __init__(self, filters: int, kernel: int, stride: int = 1, init_std: float = 0.02,
                 transpose: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel, self.stride = filters, kernel, stride
        self.init_std, self.transpose = init_std, transpose
        if transpose:
            self.conv = layers.Conv2DTranspose(
                filters, kernel, strides=stride, padding="same", use_bias=False,
                kernel_initializer=weight_init(init_std), name="conv")
        else:
            self.conv = conv(filters, kernel, stride, init_std, name="conv")
        self.norm = instance_norm("norm")

    def call(self, x):
        return keras.ops.relu(self.norm(self.conv(x)))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel": self.kernel,
                "stride": self.stride, "init_std": self.init_std, "transpose": self.transpose}


class ResidualBlock(layers.Layer):
    """conv3 IN ReLU conv3 IN + skip (GANimation's ResidualBlock)."""

    def __init__(self, filters: int, init_std: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.init_std = filters, init_std
        self.first = ConvNormReLU(filters, 3, init_std=init_std, name="first")
        self.conv = conv(filters, 3, 1, init_std, name="conv")
        self.norm = instance_norm("norm")

    def call(self, x):
        return x + self.norm(self.conv(self.first(x)))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "init_std": self.init_std}


class UpsampleConv(layers.Layer):
    """Bilinear ×2 upsampling then conv3 IN ReLU: smooth fields without checkerboards."""

    def __init__(self, filters: int, init_std: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.init_std = filters, init_std
        self.upsample = layers.UpSampling2D(2, interpolation="bilinear", name="upsample")
        self.block = ConvNormReLU(filters, 3, init_std=init_std, name="block")

    def call(self, x):
        return self.block(self.upsample(x))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "init_std": self.init_std}


def tile_aus(aus, height: int, width: int):
    """(B, 17) AU vector → (B, H, W, 17) constant channels (GANimation's conditioning)."""
    aus = keras.ops.cast(aus, "float32")
    return keras.ops.broadcast_to(
        aus[:, None, None, :], (keras.ops.shape(aus)[0], height, width, aus.shape[-1]))
