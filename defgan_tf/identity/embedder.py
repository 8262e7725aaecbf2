"""Face embedders φ for the identity loss and metric, and the `identity.embedder` registry.

An embedder maps our aligned training crops (B, S, S, 3) in [-1, 1] to identity
descriptors (B, 128), differentiably, so the identity term 1 − cos(φ(I_d), φ(I_o))
(DESIGN.md §3) can train the generator. `identity.embedder: none` builds no embedder
(None): callers skip the identity term and metric.

Chip convention. dlib's descriptor network was trained on 150×150 chips from
`dlib.get_face_chip(img, shape5, 150, padding=0.25)`. Our crops come from the same
5-point alignment (`defgan_tf.data.faces`) at size S with padding P. dlib places the
mean-face template (unit square, coordinate t) in an S×S chip so that pixel i's centre
is at t = (1 + 2·padding)·i/(S − 1) − padding: the first and last pixel centres lie on
the padded template's edges whatever S (measured by extracting chips of a coordinate
ramp; dlib insets both by half a *photo* pixel, which moves the border by less than
half a chip pixel unless the photo is much coarser than the chip). In normalised crop
coordinates n = i/(S − 1), those of `tf.image.crop_and_resize`, the template point t
sits at n = (t + P)/(1 + 2P). dlib's chip spans t ∈ [−0.25, 1.25], so `chip_from_crop`
samples the crop bilinearly in the box

    lo = (P − 0.25)/(1 + 2P),   hi = (P + 1.25)/(1 + 2P)   (both axes; S cancels)

which is (0, 1) for P = 0.25: only the size changes. Chip pixels beyond the crop (P <
0.25) are black, as dlib fills chip pixels beyond the photo.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable

import tensorflow as tf

from defgan_tf.config import ConfigError, did_you_mean
from defgan_tf.identity.dlib_resnet import DESCRIPTOR_SIZE, INPUT_SIZE, load_model

# The padding of our training crops: `defgan_tf.data.faces.CROP_PADDING` (a test keeps
# the two equal; importing it here would pull the photo tools into the loss).
DEFAULT_CROP_PADDING = 0.25
# dlib's chip convention for its face descriptor (dnn_face_recognition_ex.cpp).
CHIP_PADDING = 0.25


def chip_box(crop_padding: float = DEFAULT_CROP_PADDING) -> tuple[float, float]:
    """Where dlib's 150×150/0.25 chip lies in a crop aligned with padding `crop_padding`.

    Args:
        crop_padding: P, the alignment padding of the crop (≥ 0).

    Returns:
        (lo, hi): normalised crop coordinates (0 = first pixel centre, 1 = last) of the
        chip's first and last pixel centres along either axis, as in
        `tf.image.crop_and_resize` boxes.
    """
    if crop_padding < 0:
        raise ValueError(f"crop_padding must be ≥ 0. Received: crop_padding={crop_padding}")
    extent = 1 + 2 * crop_padding
    return (crop_padding - CHIP_PADDING) / extent, (crop_padding + 1 + CHIP_PADDING) / extent


def chip_from_crop(images: tf.Tensor, crop_padding: float = DEFAULT_CROP_PADDING) -> tf.Tensor:
    """Resamples aligned face crops to dlib's 150×150 chip with padding 0.25.

    Differentiable with respect to `images` (bilinear sampling).

    Args:
        images: (B, S, S, C) float crops aligned like `dlib.get_face_chip(img, shape5, S,
            crop_padding)`; any value range (chip pixels beyond the crop become 0).
        crop_padding: the padding P the crops were aligned with.

    Returns:
        (B, 150, 150, C) float32 in the range of `images`.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    size = images.shape[1]
    if images.shape.rank != 4 or size is None or size < 2 or images.shape[2] != size:
        raise ValueError(
            "chip_from_crop needs square crops (B, S, S, C) with a static S > 1. Received: "
            f"shape {images.shape}"
        )
    lo, hi = chip_box(crop_padding)
    batch = tf.shape(images)[0]
    boxes = tf.tile(tf.constant([[lo, lo, hi, hi]], tf.float32), [batch, 1])
    return tf.image.crop_and_resize(
        images, boxes, tf.range(batch), (INPUT_SIZE, INPUT_SIZE), method="bilinear"
    )


class FaceEmbedder(abc.ABC):
    """Maps face crops to identity descriptors; closer descriptors, likelier same person."""

    #: The registry name (`identity.embedder`).
    name: str
    #: Length D of a descriptor.
    descriptor_size: int

    @abc.abstractmethod
    def embed(self, images: tf.Tensor, normalize: bool = False) -> tf.Tensor:
        """Embeds aligned face crops.

        Args:
            images: (B, S, S, 3) float32 RGB in [-1, 1], aligned by
                `defgan_tf.data.faces` (any training size S, e.g. 64 or 128).
            normalize: return unit-length descriptors (for cosine similarity).

        Returns:
            (B, D) float32 descriptors, differentiable with respect to `images`.
        """


class DlibResNetEmbedder(FaceEmbedder):
    """dlib's ResNet face descriptor (99.38% on LFW by its authors' account), in Keras.

    The network is frozen. Raw descriptors match dlib's `compute_face_descriptor` on
    the same chip (|Δ| < 1e-6); dlib's "same person" threshold is a Euclidean distance
    of 0.6 between raw descriptors.

    Args:
        model_path: dlib_face_recognition_resnet_model_v1.dat; None = the file shipped by
            `face-recognition-models`.
        crop_padding: the alignment padding of the crops `embed` will receive.
    """

    name = "dlib_resnet"
    descriptor_size = DESCRIPTOR_SIZE

    def __init__(
        self, model_path: str | os.PathLike | None = None,
        crop_padding: float = DEFAULT_CROP_PADDING,
    ) -> None:
        if crop_padding < 0:
            raise ValueError(f"crop_padding must be ≥ 0. Received: crop_padding={crop_padding}")
        self.crop_padding = crop_padding
        self.model = load_model(model_path)
        self.model.trainable = False

    def embed(self, images: tf.Tensor, normalize: bool = False) -> tf.Tensor:
        """See `FaceEmbedder.embed`; crops are mapped to dlib's chip by `chip_from_crop`."""
        images = tf.convert_to_tensor(images, tf.float32)
        if images.shape.rank != 4 or images.shape[-1] != 3:
            raise ValueError(
                f"{self.name} embeds RGB crops (B, S, S, 3). Received: shape {images.shape}"
            )
        chips = chip_from_crop((images + 1.0) * 127.5, self.crop_padding)
        descriptors = self.model(chips, training=False)
        return tf.math.l2_normalize(descriptors, axis=-1) if normalize else descriptors


def _no_embedder(
    model_path: str | os.PathLike | None = None, crop_padding: float = DEFAULT_CROP_PADDING
) -> None:
    """`identity.embedder: none`: no identity term."""
    return None


EMBEDDERS: dict[str, Callable[..., FaceEmbedder | None]] = {
    "none": _no_embedder,
    "dlib_resnet": DlibResNetEmbedder,
}


def build_embedder(
    name: str, model_path: str | os.PathLike | None = None,
    crop_padding: float = DEFAULT_CROP_PADDING,
) -> FaceEmbedder | None:
    """Builds the embedder named by the config's `identity.embedder`.

    Args:
        name: a key of `EMBEDDERS` ("dlib_resnet" or "none").
        model_path: the config's `identity.model_path` (None = the packaged model).
        crop_padding: the alignment padding of the training crops.

    Returns:
        The embedder, or None for "none" (callers then skip the identity term).

    Raises:
        ConfigError: for an unknown name, listing the valid ones and the closest match;
            for a model file that is missing or not dlib's network, or a missing `faces`
            extra (what the config asks for cannot be built).
    """
    factory = EMBEDDERS.get(name)
    if factory is None:
        valid = sorted(EMBEDDERS)
        raise ConfigError(
            f"Unknown identity embedder. Received: identity.embedder={name!r}; valid: "
            f"{', '.join(repr(v) for v in valid)}.{did_you_mean(name, valid)}"
        )
    try:
        return factory(model_path=model_path, crop_padding=crop_padding)
    except (OSError, ValueError, ModuleNotFoundError) as error:  # incl. DlibFormatError
        raise ConfigError(f"identity.embedder={name!r}, identity.model_path="
                          f"{None if model_path is None else str(model_path)!r}: "
                          f"{error}") from None
