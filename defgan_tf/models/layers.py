"""Building blocks shared by the generators and the critic (DESIGN.md §2)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from defgan_tf.aus import NUM_AUS


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


def combine_per_au(per_au_maps: tf.Tensor, au_change: tf.Tensor) -> tf.Tensor:
    """Σ_k au_change_k · M_k: one map per AU, weighted by how much the edit changes that AU.

    The FACS additive reading both generators' `per_au` heads share: an edit that
    changes no AU changes nothing, and the edit back is the same maps with the opposite
    sign (docs/tuning.md, "Eleventh round").

    Args:
        per_au_maps: (B, h, w, c·17), channels c·k … c·k + c − 1 the map M_k of AU k.
        au_change: (B, 17), y_t − y_o.

    Returns:
        (B, h, w, c).
    """
    shape = keras.ops.shape(per_au_maps)
    channels = per_au_maps.shape[-1] // NUM_AUS
    maps = keras.ops.reshape(per_au_maps, (shape[0], shape[1], shape[2], NUM_AUS, channels))
    return keras.ops.sum(maps * au_change[:, None, None, :, None], axis=3)


def conv_of_constant_channels(values, kernel, height: int, width: int):
    """A stride-1, zero-padded 'same' conv of spatially constant channels, without tiling them.

    GANimation conditions its generators on the AUs by tiling them into constant image
    channels; in the full-size stem conv of the quickstart's generators they are 34 and
    17 of 37 and 20 input channels, about 40 % of an edit's FLOPs. At each pixel the
    conv of a constant map is the constant times the sum of the kernel taps that land
    inside the image, so it factors exactly into per-sample taps (values · kernel),
    summed over the columns and then the rows that fall inside: a few small matmuls
    (builtins for TFLite) in place of a k×k conv over H×W×n inputs.

    Args:
        values: (B, n) the channels' values.
        kernel: (kh, kw, n, O) the conv kernel's slice for those channels.
        height, width: the output's (static) size.

    Returns:
        (B, height, width, O), equal to conv(tile(values), kernel, padding="same").
    """
    def inside(size: int, taps: int):
        before = (taps - 1) // 2  # "same" padding puts an even kernel's extra pad after
        rows = np.array([[0 <= i + j - before < size for j in range(taps)]
                         for i in range(size)], np.float32)
        return keras.ops.cast(rows, kernel.dtype)

    taps = keras.ops.einsum("bc,ijco->bijo", values, kernel)
    taps = keras.ops.einsum("xj,bijo->bixo", inside(width, kernel.shape[1]), taps)
    return keras.ops.einsum("yi,bixo->byxo", inside(height, kernel.shape[0]), taps)


class ConvNormReLU(layers.Layer):
    """conv → instance norm → ReLU, the unit every generator stage is made of.

    Call:
        x: (B, H, W, C).
        constant: optional (B, n) values of n constant channels appended to x, e.g. the
            AUs: the conv reads concat(x, tile(constant)) but computes the constant
            channels' part with `conv_of_constant_channels` (stride 1, not transposed).
    """

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

    def build(self, x_shape, constant_shape=None):
        if constant_shape is not None and (self.transpose or self.stride != 1):
            raise ValueError("constant channels need a stride-1, non-transposed conv. "
                             f"Received: stride={self.stride}, transpose={self.transpose}")
        extra = 0 if constant_shape is None else constant_shape[-1]
        self.conv.build((*x_shape[:-1], x_shape[-1] + extra))
        self.norm.build((None, None, None, self.filters))

    def call(self, x, constant=None):
        if constant is None:
            return keras.ops.relu(self.norm(self.conv(x)))
        dtype, channels = self.conv.compute_dtype, x.shape[-1]
        kernel = keras.ops.cast(self.conv.kernel, dtype)
        y = keras.ops.conv(keras.ops.cast(x, dtype), kernel[:, :, :channels], padding="same")
        y = y + conv_of_constant_channels(keras.ops.cast(constant, dtype),
                                          kernel[:, :, channels:], x.shape[1], x.shape[2])
        return keras.ops.relu(self.norm(y))

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
    """Bilinear ×2 upsampling then conv3 IN ReLU: smooth fields without checkerboards.

    Call:
        x: (B, h, w, C).
        skip: optional (B, 2h, 2w, C') encoder features concatenated after the upsampling
            (a U-Net decoder level).
    """

    def __init__(self, filters: int, init_std: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.init_std = filters, init_std
        self.upsample = layers.UpSampling2D(2, interpolation="bilinear", name="upsample")
        self.block = ConvNormReLU(filters, 3, init_std=init_std, name="block")

    def call(self, x, skip=None):
        x = self.upsample(x)
        if skip is not None:
            x = keras.ops.concatenate([x, keras.ops.cast(skip, x.dtype)], axis=-1)
        return self.block(x)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "init_std": self.init_std}
