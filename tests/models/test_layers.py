"""The generators' AU conditioning: constant channels computed without tiling them."""

import keras
import numpy as np
import pytest

from defgan_tf.models.layers import ConvNormReLU, conv_of_constant_channels


def tiled_conv(values, kernel, height, width):
    tiled = np.broadcast_to(values[:, None, None, :], (len(values), height, width, values.shape[1]))
    return keras.ops.convert_to_numpy(keras.ops.conv(tiled, kernel, padding="same"))


@pytest.mark.parametrize(("kernel_size", "height", "width"), [((7, 7), 16, 16), ((4, 3), 9, 12),
                                                               ((1, 1), 5, 4), ((7, 7), 5, 6)])
def test_constant_channels_match_the_conv_of_tiled_maps(kernel_size, height, width):
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 1, (3, 5)).astype(np.float32)
    kernel = rng.normal(size=(*kernel_size, 5, 4)).astype(np.float32)
    result = keras.ops.convert_to_numpy(conv_of_constant_channels(values, kernel, height, width))
    np.testing.assert_allclose(result, tiled_conv(values, kernel, height, width), atol=1e-5)


def test_conv_norm_relu_with_constant_channels_equals_the_concatenated_input():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 12, 10, 3)).astype(np.float32)
    constant = rng.uniform(0, 1, (2, 6)).astype(np.float32)
    split = ConvNormReLU(8, 7, init_std=0.5)
    result = split(x, constant)
    assert split.conv.kernel.shape == (7, 7, 9, 8)
    whole = ConvNormReLU(8, 7)
    tiled = np.broadcast_to(constant[:, None, None, :], (2, 12, 10, 6))
    whole.build((2, 12, 10, 9))
    whole.set_weights(split.get_weights())
    expected = whole(np.concatenate([x, tiled], axis=-1))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(result),
                               keras.ops.convert_to_numpy(expected), atol=1e-5)


def test_constant_channels_need_a_stride_one_conv():
    layer = ConvNormReLU(8, 4, stride=2)
    with pytest.raises(ValueError, match="constant channels need a stride-1, non-transposed conv. "
                                         "Received: stride=2, transpose=False"):
        layer(np.zeros((1, 8, 8, 3), np.float32), np.zeros((1, 2), np.float32))
