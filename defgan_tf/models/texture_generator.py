"""G_T: paints what the warp cannot make over the deformed face (paper eq. 2, 6)."""

from __future__ import annotations

import keras
from keras import layers

from defgan_tf.aus import NUM_AUS
from defgan_tf.models.layers import ConvNormReLU, UpsampleConv, combine_per_au, conv
from defgan_tf.models.trunk import Generator

DECODERS = ("transpose", "upsample")
HEADS = ("color", "per_au")
PER_AU_KERNEL = 3
"""Kernel of the per-AU head: 51 output channels at 7×7 would cost 0.33 GFLOPs per 64²
image, more than half of the whole texture generator; 3×3 costs 0.06."""


def attend(deformed, color, mask):
    """The edit A·I_d + (1 − A)·C (paper eq. 3): A = 1 keeps the deformed pixel, A = 0
    shows the colour map. One place for it, so that a repainting with a held mask
    (`DefGAN`, `losses.edit_expression_trains: color`) composes exactly as the generator."""
    return mask * deformed + (1.0 - mask) * color


class TextureGenerator(Generator):
    """GANimation's generator: reads the deformed face, returns the edit, colour and mask.

    Two heads for the colour, one mask. "color" (GANimation, paper eq. 2): the trunk
    reads concat(I_d, tile(y_t)) and a head gives the colour map C. "per_au": the trunk
    reads I_d alone and the head gives one colour change R_k per AU, added by the change
    the edit asks for, C = I_d + Σ_k (y_t,k − y_o,k)·R_k, clipped to [-1, 1]: the
    texture counterpart of the deformation generator's per-AU fields (FACS additivity).
    An edit that changes no AU paints nothing, the edit back paints the opposite, and a
    wrinkle or the teeth of one AU are learnt from every edit that changes it. Either
    way an attention mask A says where to paint, and the edit is A·I_d + (1 − A)·C. The
    per-AU change needs the mask: added straight to the face (tried first), with the
    mask regulariser pulling on its L1 norm, it covered the whole face, and the edits'
    drift outside the changed regions rose from 0.014 at step 250 to 0.026 at step 750
    while the GANimation head's fell from 0.028 to 0.021 (docs/tuning.md, "Thirteenth
    round"). A sigmoid mask that starts at 0.95 and is pulled to 1 paints nowhere
    cheaply.

    Args:
        width, n_down, n_res, stem_kernel, head_kernel, init_std: see `Generator`.
        mask_bias_init: bias of the mask head; 3.0 gives A ≈ 0.95, i.e. the generator
            starts by keeping the deformed image (notes/quickstart_feasibility.md).
            The per-AU head's weights start at zero, so C = I_d: nothing is painted.
        decoder: "transpose" (GANimation: a stride-2 transposed conv4 per level) or
            "upsample" (bilinear ×2 + conv3 per level, as the deformation generator's).
            A stride-2 transposed conv makes even and odd output pixels with different
            taps of its kernel, so even smooth features come out as a period-2
            checkerboard, and where the mask keeps the deformed image no loss trains it
            away (docs/tuning.md, "Fifth round").
        head: "color" or "per_au", see above.

    Call:
        deformed: (B, H, W, 3) float in [-1, 1]; source_aus, target_aus: (B, 17) in [0, 1]
            (the "color" head reads only the targets).
        Returns a dict of float32 tensors: `edited` and `color` (B, H, W, 3), `mask`
        (B, H, W, 1), 1 = keep the deformed pixel.
    """

    def __init__(self, width: int = 64, n_down: int = 2, n_res: int = 6, stem_kernel: int = 7,
                 head_kernel: int = 7, mask_bias_init: float = 3.0, init_std: float = 0.02,
                 decoder: str = "transpose", head: str = "color", **kwargs):
        super().__init__(width, n_down, n_res, stem_kernel, head_kernel, init_std, **kwargs)
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}. Received: {decoder!r}")
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}. Received: {head!r}")
        self.mask_bias_init, self.decoder, self.head = mask_bias_init, decoder, head
        self.ups = [
            ConvNormReLU(filters, 4, stride=2, init_std=init_std, transpose=True, name=f"up{i}")
            if decoder == "transpose" else UpsampleConv(filters, init_std=init_std, name=f"up{i}")
            for i, filters in enumerate(self.decoder_widths())
        ]
        # Heads in float32: tanh/sigmoid saturate badly in float16.
        if head == "per_au":
            self.change_head = layers.Conv2D(
                3 * NUM_AUS, PER_AU_KERNEL, padding="same", kernel_initializer="zeros",
                name="change_head", dtype="float32")
        else:
            self.color_head = conv(3, head_kernel, 1, init_std, "color_head", dtype="float32")
        self.mask_head = layers.Conv2D(
            1, head_kernel, padding="same", kernel_initializer=keras.initializers.RandomNormal(
                stddev=init_std), bias_initializer=keras.initializers.Constant(mask_bias_init),
            name="mask_head", dtype="float32")

    def call(self, deformed, source_aus, target_aus):
        deformed = keras.ops.cast(deformed, "float32")
        target_aus = keras.ops.cast(target_aus, "float32")
        x = self.trunk(deformed, None if self.head == "per_au" else target_aus)
        for layer in self.ups:
            x = layer(x)
        if self.head == "per_au":
            change = combine_per_au(self.change_head(x),
                                    target_aus - keras.ops.cast(source_aus, "float32"))
            color = keras.ops.clip(deformed + change, -1.0, 1.0)
        else:
            color = keras.ops.tanh(self.color_head(x))
        mask = keras.ops.sigmoid(self.mask_head(x))
        return {"edited": attend(deformed, color, mask), "color": color, "mask": mask}

    def get_config(self):
        return {**super().get_config(), "mask_bias_init": self.mask_bias_init,
                "decoder": self.decoder, "head": self.head}
