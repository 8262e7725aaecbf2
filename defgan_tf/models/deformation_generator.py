"""G_D: predicts the raw deformation field Δ from the face and the AUs (paper eq. 1, 4, 5)."""

from __future__ import annotations

import keras

from defgan_tf.models.layers import UpsampleConv, tile_aus
from defgan_tf.models.trunk import EncoderTrunk


class DeformationGenerator(keras.Model):
    """Same encoder and trunk as G_T; bilinear-upsampling decoder; a 2-channel field head.

    The head's weights start at zero, so tanh(Δ) = 0 and training starts at the identity
    warp (DESIGN.md §2).

    Args:
        width, n_down, n_res, stem_kernel, head_kernel, init_std: as TextureGenerator.
        sees_source: whether the input includes tile(source_aus) (paper eq. 1; default on).

    Call:
        image: (B, H, W, 3) in [-1, 1]; source_aus, target_aus: (B, 17) in [0, 1].
        Returns the raw field Δ: (B, H, W, 2) float32, (x, y) order, unbounded.
    """

    def __init__(self, width: int = 64, n_down: int = 2, n_res: int = 6, stem_kernel: int = 7,
                 head_kernel: int = 7, init_std: float = 0.02, sees_source: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        if width < 1 or n_down < 0 or n_res < 0:
            raise ValueError(f"DeformationGenerator needs width ≥ 1, n_down ≥ 0, n_res ≥ 0. "
                             f"Received: width={width}, n_down={n_down}, n_res={n_res}")
        self.width, self.n_down, self.n_res = width, n_down, n_res
        self.stem_kernel, self.head_kernel = stem_kernel, head_kernel
        self.init_std, self.sees_source = init_std, sees_source
        self.trunk = EncoderTrunk(width, n_down, n_res, stem_kernel, init_std, name="trunk")
        self.ups = [
            UpsampleConv(width * 2 ** (n_down - 1 - i), init_std=init_std, name=f"up{i}")
            for i in range(n_down)
        ]
        self.field_head = keras.layers.Conv2D(
            2, head_kernel, padding="same", kernel_initializer="zeros", name="field_head",
            dtype="float32")

    def call(self, image, source_aus, target_aus):
        height, width = image.shape[1], image.shape[2]
        parts = [keras.ops.cast(image, "float32")]
        if self.sees_source:
            parts.append(tile_aus(source_aus, height, width))
        parts.append(tile_aus(target_aus, height, width))
        x = self.trunk(keras.ops.concatenate(parts, axis=-1))
        for layer in self.ups:
            x = layer(x)
        return self.field_head(x)

    def get_config(self):
        return {**super().get_config(), "width": self.width, "n_down": self.n_down,
                "n_res": self.n_res, "stem_kernel": self.stem_kernel,
                "head_kernel": self.head_kernel, "init_std": self.init_std,
                "sees_source": self.sees_source}
