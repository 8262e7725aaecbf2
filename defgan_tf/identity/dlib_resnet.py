"""dlib's face descriptor network (dlib_face_recognition_resnet_model_v1) rebuilt in Keras.

The architecture is the `anet_type` of dlib's examples/dnn_face_recognition_ex.cpp: a
7×7/2 stem convolution and 3×3/2 max pool, 14 residual blocks in five stages
(32, 64, 128, 256, 256 filters), a global average and a 256→128 fully connected layer
without bias. Three details make the port exact (see notes/dlib_resnet_format.md):

- dlib pads a convolution by ⌊k/2⌋ only at stride 1; its stride-2 convolutions and pools
  use no padding, i.e. Keras `valid`, not `same`.
- A residual add pads the smaller operand with zeros at the bottom, right and trailing
  channels (dlib's tt::add); the down-sampling shortcut is a 2×2 average pool whose
  missing channels are those zeros, with no projection.
- The input is (pixel − mean) / 256 per channel, with the means stored in the file.

Each affine (frozen batch norm) layer is folded into the convolution before it, and the
input scaling into the stem convolution, which has no padding, so the folding is exact
up to float32 rounding. Converted weights are cached as `.weights.h5` keyed by the
`.dat` file's sha256, so the conversion runs once per file.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np

from defgan_tf import files
from defgan_tf.dlib_models import model_path
from defgan_tf.identity.dlib_format import (
    AddPrev,
    Affine,
    Conv,
    DlibFormatError,
    FullyConnected,
    Layer,
    Network,
    Pool,
    Relu,
    parse_network,
)

INPUT_SIZE = 150
DESCRIPTOR_SIZE = 128

# (filters, residual blocks, whether the first block halves the resolution) from input
# to output: dlib's alevel4 … alevel0.
_STAGES = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))

# Bump when the conversion changes, so that stale cached weights are not reused.
_CONVERTER_VERSION = 1


@keras.saving.register_keras_serializable(package="defgan_tf")
class ZeroPaddedAdd(keras.layers.Layer):
    """dlib's residual add: operands of different shapes are zero-padded to the larger.

    Each output dimension is the larger of the two inputs'; missing rows, columns and
    channels are zeros appended at the bottom, right and end (dlib's `tt::add`).

    Call args:
        inputs: two tensors (B, H1, W1, C1) and (B, H2, W2, C2) with static H, W, C.

    Returns:
        (B, max(H1, H2), max(W1, W2), max(C1, C2)).
    """

    def compute_output_shape(self, input_shape):
        first, second = input_shape
        return (first[0], *(max(a, b) for a, b in zip(first[1:], second[1:])))

    def call(self, inputs):
        first, second = inputs
        target = [max(a, b) for a, b in zip(first.shape[1:], second.shape[1:])]

        def pad(x):
            widths = [(0, 0)] + [(0, t - s) for s, t in zip(x.shape[1:], target)]
            return keras.ops.pad(x, widths) if any(w for _, w in widths) else x

        return pad(first) + pad(second)


def _blocks() -> Iterator[tuple[str, int, int]]:
    """Yields (name, filters, stride) for every residual block, input to output."""
    for stage, (filters, count, downsample) in enumerate(_STAGES):
        for index in range(count):
            stride = 2 if downsample and index == 0 else 1
            yield f"stage{stage}_block{index}", filters, stride


def _conv(filters: int, size: int, stride: int, name: str, relu: bool) -> keras.layers.Conv2D:
    # dlib pads ⌊k/2⌋ at stride 1 (Keras `same` for odd k) and nothing otherwise.
    return keras.layers.Conv2D(
        filters, size, strides=stride, padding="same" if stride == 1 else "valid",
        activation="relu" if relu else None, name=name,
    )


def build_model() -> keras.Model:
    """Builds the network with uninitialised weights.

    Returns:
        keras.Model: (B, 150, 150, 3) float32 RGB in [0, 255] → (B, 128) raw descriptors.
    """
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="chip")
    x = _conv(32, 7, 2, "stem_conv", relu=True)(inputs)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name="stem_pool")(x)
    for name, filters, stride in _blocks():
        residual = _conv(filters, 3, stride, f"{name}_conv1", relu=True)(x)
        residual = _conv(filters, 3, 1, f"{name}_conv2", relu=False)(residual)
        if stride != 1:
            x = keras.layers.AveragePooling2D(2, strides=2, name=f"{name}_shortcut")(x)
        x = ZeroPaddedAdd(name=f"{name}_add")([x, residual])
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(DESCRIPTOR_SIZE, use_bias=False, name="descriptor")(x)
    return keras.Model(inputs, outputs, name="dlib_resnet")


class _Records:
    """Walks the parsed layers in order, checking each against what the model expects."""

    def __init__(self, network: Network, source: str) -> None:
        self._layers = network.layers
        self._source = source
        self._index = 0

    def take(self, record_type: type[Layer], what: str, tags_below: int = 0, **fields) -> Layer:
        index = self._index
        if index >= len(self._layers):
            raise DlibFormatError(
                f"{self._source}: expected {what} after the last of {index} layers, found "
                "nothing."
            )
        layer = self._layers[index]
        self._index += 1
        found = {name: getattr(layer, name, None) for name in fields}
        if not isinstance(layer, record_type) or layer.tags_below != tags_below or found != fields:
            raise DlibFormatError(
                f"{self._source}: layer {index} at byte {layer.offset}: expected {what} "
                f"({record_type.__name__} {fields}, {tags_below} tag/skip wrappers below), found "
                f"{type(layer).__name__} {found}, {layer.tags_below} below. This is not the "
                "dlib_face_recognition_resnet_model_v1 architecture."
            )
        return layer

    def expect_end(self) -> None:
        left = len(self._layers) - self._index
        if left:
            raise DlibFormatError(
                f"{self._source}: expected the fully connected layer to be last, found "
                f"{left} more layers."
            )

    def conv(self, layer: keras.layers.Conv2D, tags_below: int = 0) -> tuple[np.ndarray, ...]:
        """Takes con + affine (+ relu if `layer` has one); returns the folded HWIO kernel, bias."""
        size = layer.kernel_size[0]
        stride = layer.strides[0]
        pad = size // 2 if layer.padding == "same" else 0
        conv = self.take(
            Conv, f"con {layer.name}", tags_below,
            stride=(stride, stride), padding=(pad, pad), fused_relu=False,
        )
        expected_shape = (layer.filters, layer.kernel.shape[2], size, size)
        if conv.kernel.shape != expected_shape or conv.bias is None:
            raise DlibFormatError(
                f"{self._source}: con at byte {conv.offset}: expected filters {expected_shape} "
                f"with a bias for {layer.name}, found {conv.kernel.shape}, bias "
                f"{'present' if conv.bias is not None else 'absent'}."
            )
        affine = self.take(Affine, f"affine after {layer.name}", disabled=False)
        if affine.gamma.shape != (layer.filters, 1, 1):
            raise DlibFormatError(
                f"{self._source}: affine at byte {affine.offset}: expected per-channel "
                f"({layer.filters}, 1, 1) parameters, found {affine.gamma.shape}."
            )
        if layer.activation is keras.activations.relu:
            self.take(Relu, f"relu after {layer.name}", disabled=False)
        gamma, beta = affine.gamma.ravel(), affine.beta.ravel()
        kernel = conv.kernel.transpose(2, 3, 1, 0) * gamma
        return kernel, conv.bias * gamma + beta


def _fold_input_scaling(
    kernel: np.ndarray, bias: np.ndarray, mean_rgb: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Folds (pixel − mean)/256 into an unpadded conv: W' = W/256, b' = b − Σ W·mean/256."""
    scaled = kernel / 256.0
    shift = np.einsum("hwio,i->o", scaled.astype(np.float64), np.asarray(mean_rgb))
    return scaled, (bias - shift).astype(np.float32)


def assign_dlib_weights(model: keras.Model, network: Network, source: str = "<bytes>") -> None:
    """Loads a parsed dlib network into `build_model()`'s model.

    Args:
        model: the model returned by `build_model()`.
        network: `parse_network()` of dlib_face_recognition_resnet_model_v1.dat.
        source: a name for error messages.

    Raises:
        DlibFormatError: if the layers differ in type, order, shape or wiring.
    """
    if (network.input.rows, network.input.cols) != (INPUT_SIZE, INPUT_SIZE):
        raise DlibFormatError(
            f"{source}: expected a {INPUT_SIZE}×{INPUT_SIZE} input layer, found "
            f"{network.input.rows}×{network.input.cols}."
        )
    records = _Records(network, source)
    stem = model.get_layer("stem_conv")
    stem.set_weights(list(_fold_input_scaling(*records.conv(stem), network.input.mean_rgb)))
    records.take(Pool, "stem max_pool 3x3/2", kind="max", size=(3, 3), stride=(2, 2),
                 padding=(0, 0))
    for name, _, stride in _blocks():
        # tag1 sits below the block's first con; tag2 and skip1 below the shortcut pool.
        for index, tags_below in ((1, 1), (2, 0)):
            layer = model.get_layer(f"{name}_conv{index}")
            layer.set_weights(list(records.conv(layer, tags_below)))
        if stride != 1:
            records.take(Pool, f"{name} shortcut avg_pool 2x2/2", tags_below=2, kind="avg",
                         size=(2, 2), stride=(2, 2), padding=(0, 0))
        records.take(AddPrev, f"{name} add_prev")
        records.take(Relu, f"{name} relu", disabled=False)
    records.take(Pool, "avg_pool_everything", kind="avg", size=(0, 0), stride=(1, 1),
                 padding=(0, 0))
    dense = model.get_layer("descriptor")
    fc = records.take(FullyConnected, "fc_no_bias 256→128")
    if fc.weights.shape != tuple(dense.kernel.shape) or fc.bias is not None:
        raise DlibFormatError(
            f"{source}: fc at byte {fc.offset}: expected weights {tuple(dense.kernel.shape)} "
            f"and no bias, found {fc.weights.shape}, bias "
            f"{'absent' if fc.bias is None else 'present'}."
        )
    dense.set_weights([fc.weights])
    records.expect_end()


def default_model_path() -> Path:
    """The .dat file shipped by `face-recognition-models` (the `faces` extra).

    Raises:
        ModuleNotFoundError: if that package is not installed, saying how to get it.
    """
    return model_path("descriptor")


def cache_dir() -> Path:
    """Where converted weights live: $XDG_CACHE_HOME/defgan_tf, else ~/.cache/defgan_tf."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "defgan_tf"


def cached_weights_path(model_path: Path) -> Path:
    """The cache file for `model_path`'s converted weights, named by its sha256."""
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    return cache_dir() / f"dlib_resnet_v{_CONVERTER_VERSION}_{digest}.weights.h5"


def _save_atomically(model: keras.Model, path: Path) -> None:
    # Readers (other processes filling the same cache) never see a partial file.
    with files.written_in_place(path) as partial:
        model.save_weights(partial, overwrite=True)


def load_model(model_path: str | os.PathLike | None = None) -> keras.Model:
    """dlib's face descriptor network as a Keras model with its weights loaded.

    The first call for a given .dat file converts it and caches the weights (see
    `cached_weights_path`); later calls load the cache. A cache that cannot be written
    or read only costs a warning (and a new conversion).

    Args:
        model_path: dlib_face_recognition_resnet_model_v1.dat; None = the copy shipped
            by `face-recognition-models`.

    Returns:
        keras.Model: (B, 150, 150, 3) float32 RGB chips in [0, 255], as
        `dlib.get_face_chip(img, shape5, 150, 0.25)` returns them → (B, 128) float32 raw
        (not unit-length) descriptors, matching dlib's `compute_face_descriptor`.

    Raises:
        FileNotFoundError: if `model_path` does not exist.
        DlibFormatError: if the file is not that network in dlib's format.
    """
    path = Path(model_path) if model_path is not None else default_model_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"dlib model file not found. Received: model_path={str(path)!r}; expected "
            "dlib_face_recognition_resnet_model_v1.dat (shipped by face-recognition-models)."
        )
    model = build_model()
    cached = cached_weights_path(path)
    if cached.is_file():
        try:
            model.load_weights(cached)
            return model
        except (OSError, ValueError) as error:
            warnings.warn(f"Ignoring unreadable cached weights {cached}: {error}", stacklevel=2)
    assign_dlib_weights(model, parse_network(path.read_bytes(), str(path)), str(path))
    try:
        _save_atomically(model, cached)
    except OSError as error:
        warnings.warn(f"Could not cache converted dlib weights at {cached}: {error}", stacklevel=2)
    return model
