"""G_T: hallucinates colour and an attention mask on the deformed face (paper eq. 2, 6)."""

from __future__ import annotations

import keras
from keras import layers

from defgan_tf.models.layers import ConvNormReLU, UpsampleConv, conv
from defgan_tf.models.trunk import Generator

DECODERS = ("transpose", "upsample")


class TextureGenerator(Generator):
    """GANimation's generator: reads concat(I_d, tile(y_t)), returns (colour C, mask A).

    Args:
        width, n_down, n_res, stem_kernel, head_kernel, init_std: see `Generator`.
        mask_bias_init: bias of the mask head; 3.0 gives A ≈ 0.95, i.e. the generator
            starts by keeping the deformed image (notes/quickstart_feasibility.md).
        decoder: "transpose" (GANimation: a stride-2 transposed conv4 per level) or
            "upsample" (bilinear ×2 + conv3 per level, as the deformation generator's).
            A stride-2 transposed conv makes even and odd output pixels with different
            taps of its kernel, so even smooth features come out as a period-2
            checkerboard, and where the mask keeps the deformed image no loss trains it
            away (docs/tuning.md, "Fifth round").

    Call:
        deformed: (B, H, W, 3) float in [-1, 1]; target_aus: (B, 17) in [0, 1].
        Returns (color (B, H, W, 3) tanh, mask (B, H, W, 1) sigmoid, 1 = keep I_d), float32.
    """

    def __init__(self, width: int = 64, n_down: int = 2, n_res: int = 6, stem_kernel: int = 7,
                 head_kernel: int = 7, mask_bias_init: float = 3.0, init_std: float = 0.02,
                 decoder: str = "transpose", **kwargs):
        super().__init__(width, n_down, n_res, stem_kernel, head_kernel, init_std, **kwargs)
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}. Received: {decoder!r}")
        self.mask_bias_init, self.decoder = mask_bias_init, decoder
        self.ups = [
            ConvNormReLU(filters, 4, stride=2, init_std=init_std, transpose=True, name=f"up{i}")
            if decoder == "transpose" else UpsampleConv(filters, init_std=init_std, name=f"up{i}")
            for i, filters in enumerate(self.decoder_widths())
        ]
        # Heads in float32: tanh/sigmoid saturate badly in float16.
        self.color_head = conv(3, head_kernel, 1, init_std, "color_head", dtype="float32")
        self.mask_head = layers.Conv2D(
            1, head_kernel, padding="same", kernel_initializer=keras.initializers.RandomNormal(
                stddev=init_std), bias_initializer=keras.initializers.Constant(mask_bias_init),
            name="mask_head", dtype="float32")

    def call(self, deformed, target_aus):
        x = self.trunk(keras.ops.cast(deformed, "float32"), keras.ops.cast(target_aus, "float32"))
        for layer in self.ups:
            x = layer(x)
        color = keras.ops.tanh(self.color_head(x))
        mask = keras.ops.sigmoid(self.mask_head(x))
        return color, mask

    def get_config(self):
        return {**super().get_config(), "mask_bias_init": self.mask_bias_init,
                "decoder": self.decoder}
