"""G_D: predicts the raw deformation field Δ from the face and the AUs (paper eq. 1, 4, 5)."""

from __future__ import annotations

import keras

from defgan_tf.models.layers import UpsampleConv
from defgan_tf.models.trunk import Generator

DECODERS = ("conv", "bilinear")


class DeformationGenerator(Generator):
    """Same encoder and trunk as G_T; bilinear-upsampling decoder; a 2-channel field head.

    The head's weights start at zero, so tanh(Δ) = 0 and training starts at the identity
    warp (DESIGN.md §2).

    Two decoders. "conv" (DESIGN.md §2): per level a bilinear ×2 and a conv3, the head
    at full size, so the field can vary from pixel to pixel. "bilinear" (the paper's
    appendix D.1 read literally: the upsampling layers *replaced* by bilinear
    upsampling): the head runs at the trunk's size and the field is only interpolated
    up, so it is smooth between cells 2^n_down pixels apart by construction. Facial
    motion is that smooth, pixel-to-pixel swirls are not; but on the synthetic faces
    it moved whole regions (cheeks, outlines) with the features, which smooth fields
    make cheap (docs/tuning.md), so "conv" stays the default.

    Args:
        width, n_down, n_res, stem_kernel, head_kernel, init_std: see `Generator`.
        sees_source: whether the input includes tile(source_aus) (paper eq. 1; default on).
        decoder: "conv" or "bilinear", see above.

    Call:
        image: (B, H, W, 3) in [-1, 1]; source_aus, target_aus: (B, 17) in [0, 1].
        Returns the raw field Δ: (B, H, W, 2) float32, (x, y) order, unbounded.
    """

    def __init__(self, width: int = 64, n_down: int = 2, n_res: int = 6, stem_kernel: int = 7,
                 head_kernel: int = 7, init_std: float = 0.02, sees_source: bool = True,
                 decoder: str = "conv", **kwargs):
        super().__init__(width, n_down, n_res, stem_kernel, head_kernel, init_std, **kwargs)
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}. Received: {decoder!r}")
        self.sees_source, self.decoder = sees_source, decoder
        self.ups = [UpsampleConv(filters, init_std=init_std, name=f"up{i}")
                    for i, filters in enumerate(self.decoder_widths())] \
            if decoder == "conv" else []
        self.field_head = keras.layers.Conv2D(
            2, head_kernel, padding="same", kernel_initializer="zeros", name="field_head",
            dtype="float32")

    def call(self, image, source_aus, target_aus):
        height, width = image.shape[1], image.shape[2]
        aus = [source_aus, target_aus] if self.sees_source else [target_aus]
        aus = keras.ops.concatenate([keras.ops.cast(a, "float32") for a in aus], axis=-1)
        x = self.trunk(keras.ops.cast(image, "float32"), aus)
        for layer in self.ups:
            x = layer(x)
        field = self.field_head(x)
        if self.decoder == "bilinear" and self.n_down:
            field = keras.ops.image.resize(field, (height, width), interpolation="bilinear")
        return field

    def get_config(self):
        return {**super().get_config(), "sees_source": self.sees_source, "decoder": self.decoder}
