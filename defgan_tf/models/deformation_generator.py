"""G_D: predicts the raw deformation field Δ from the face and the AUs (paper eq. 1, 4, 5)."""

from __future__ import annotations

import keras

from defgan_tf.aus import NUM_AUS
from defgan_tf.models.layers import UpsampleConv, combine_per_au
from defgan_tf.models.trunk import Generator

DECODERS = ("conv", "bilinear", "unet")
HEADS = ("field", "per_au")


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
    make cheap (docs/tuning.md), so "conv" stays the default. "unet": "conv" with each
    level also reading the encoder's features of its size (stem, then each downsampling;
    Ronneberger et al. 2015). Without them a full-size pixel sees the face only through
    the trunk's 2^n_down-times coarser features; the stem's say where an edge of the
    brow or lip lies to the pixel. On the synthetic faces it shortened the overshooting
    motion and brought the pixels from 0.97× to 0.92× "no edit", though the motion still
    spreads past the features that move (docs/tuning.md, "Twelfth round").

    Two heads. "field" (paper eq. 1): the trunk reads the face with the AUs tiled in and
    the head predicts one field for this edit. "per_au": the trunk reads the face alone
    and the head predicts one field B_k per AU, combined linearly by the change the edit
    asks for, Δ = Σ_k (y_t,k − y_o,k) · B_k. That is FACS's additive reading of the AUs
    (each a muscle action with its own motion): an edit that changes no AU does not move,
    the edit back is the same fields with the opposite sign, and each AU's field is
    learnt from every edit that changes it, so a motion that only one edit rewards
    cannot hide in it. On real faces additivity is an approximation; the synthetic
    renderer's fields are linear in the AUs by construction (docs/tuning.md,
    "Eleventh round").

    Args:
        width, n_down, n_res, stem_kernel, head_kernel, init_std: see `Generator`.
        sees_source: whether the input includes tile(source_aus) (paper eq. 1; default on).
            The "per_au" head needs the source AUs for the change y_t − y_o.
        decoder: "conv", "bilinear" or "unet", see above.
        head: "field" or "per_au", see above.

    Call:
        image: (B, H, W, 3) in [-1, 1]; source_aus, target_aus: (B, 17) in [0, 1].
        Returns the raw field Δ: (B, H, W, 2) float32, (x, y) order, unbounded.
    """

    def __init__(self, width: int = 64, n_down: int = 2, n_res: int = 6, stem_kernel: int = 7,
                 head_kernel: int = 7, init_std: float = 0.02, sees_source: bool = True,
                 decoder: str = "conv", head: str = "field", **kwargs):
        super().__init__(width, n_down, n_res, stem_kernel, head_kernel, init_std, **kwargs)
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}. Received: {decoder!r}")
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}. Received: {head!r}")
        if head == "per_au" and not sees_source:
            raise ValueError("The per_au head combines its fields by target − source AUs, so "
                             "it needs sees_source=True. Received: sees_source=False")
        self.sees_source, self.decoder, self.head = sees_source, decoder, head
        self.ups = [UpsampleConv(filters, init_std=init_std, name=f"up{i}")
                    for i, filters in enumerate(self.decoder_widths())] \
            if decoder != "bilinear" else []
        fields = NUM_AUS if head == "per_au" else 1
        self.field_head = keras.layers.Conv2D(
            2 * fields, head_kernel, padding="same", kernel_initializer="zeros",
            name="field_head", dtype="float32")

    def call(self, image, source_aus, target_aus):
        height, width = image.shape[1], image.shape[2]
        source_aus = keras.ops.cast(source_aus, "float32")
        target_aus = keras.ops.cast(target_aus, "float32")
        if self.head == "per_au":
            aus = None
        else:
            aus = keras.ops.concatenate(
                [source_aus, target_aus] if self.sees_source else [target_aus], axis=-1)
        x, encoder = self.trunk(keras.ops.cast(image, "float32"), aus, return_skips=True)
        skips = encoder[::-1] if self.decoder == "unet" else [None] * len(self.ups)
        for layer, skip in zip(self.ups, skips):
            x = layer(x, skip)
        field = self.field_head(x)
        if self.head == "per_au":
            field = combine_per_au(field, target_aus - source_aus)
        if self.decoder == "bilinear" and self.n_down:
            field = keras.ops.image.resize(field, (height, width), interpolation="bilinear")
        return field

    def get_config(self):
        return {**super().get_config(), "sees_source": self.sees_source, "decoder": self.decoder,
                "head": self.head}
