"""Face identity embedders: dlib's ResNet face descriptor in Keras, for the identity loss.

`build_embedder(config.identity.embedder, config.identity.model_path)` is the entry
point; `dlib_resnet.load_model()` gives the bare 150×150 → 128 network and
`dlib_format.parse_network()` reads dlib's `.dat` serialisation.
"""

from defgan_tf.identity.dlib_format import DlibFormatError
from defgan_tf.identity.dlib_resnet import load_model
from defgan_tf.identity.embedder import (
    EMBEDDERS,
    DlibResNetEmbedder,
    FaceEmbedder,
    build_embedder,
    chip_box,
    chip_from_crop,
)

__all__ = [
    "EMBEDDERS",
    "DlibFormatError",
    "DlibResNetEmbedder",
    "FaceEmbedder",
    "build_embedder",
    "chip_box",
    "chip_from_crop",
    "load_model",
]
