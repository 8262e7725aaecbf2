"""Reader for dlib's `serialize()` stream of a DNN (`.dat` files such as dlib's face descriptor).

dlib writes a network as nested objects, outermost first: the loss, then each layer
wrapper's version int followed by its whole sub-network, and only then its own details.
So the stream holds all wrapper version ints (output to input), then the input layer,
then every layer's details from input to output. Tag and skip wrappers write nothing but
their version, so the wiring between layers is not in the file; `parse_network` records
how many of them sit below each layer so that a builder can check them against the
architecture it expects. The primitive encodings follow dlib/serialize.h,
dlib/float_details.h and dlib/cuda/tensor.h; the layer payloads follow dlib/dnn/layers.h.

Every read checks what it finds and fails with `DlibFormatError`, which names what was
expected, what was found and the byte offset. `parse_network` insists on reading the
stream to its last byte.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# float_details exponents that stand for non-finite values (dlib/float_details.h).
_EXP_INF, _EXP_NINF, _EXP_NAN = 32000, 32001, 32002

# Wrapper version ints (dlib/dnn/core.h): add_tag_layer and add_skip_layer write 1, an
# add_layer over another layer writes 2 and the add_layer over the input layer writes 3.
_TAG_OR_SKIP, _ADD_LAYER, _INPUT_ADD_LAYER = 1, 2, 3


class DlibFormatError(ValueError):
    """The stream is not a dlib network this reader understands; the message says where."""


class StreamReader:
    """Reads dlib's serialisation primitives from a byte string, tracking the offset.

    Args:
        data: the whole serialised stream.
        source: a name for error messages (usually the file path).
    """

    def __init__(self, data: bytes, source: str = "<bytes>") -> None:
        self._data = memoryview(data)
        self.source = source
        self.offset = 0

    def fail(self, expected: str, found: str, at: int | None = None) -> DlibFormatError:
        """Builds the error for a mismatch at `at` (default: the current offset)."""
        where = self.offset if at is None else at
        return DlibFormatError(
            f"{self.source}: at byte {where}: expected {expected}, found {found}. "
            "This file is not the dlib network this reader understands."
        )

    def _take(self, count: int, what: str) -> memoryview:
        end = self.offset + count
        if end > len(self._data):
            left = len(self._data) - self.offset
            raise self.fail(f"{count} bytes of {what}", f"end of data after {left} bytes")
        chunk = self._data[self.offset:end]
        self.offset = end
        return chunk

    def read_int(self, what: str, *, unsigned: bool = False) -> int:
        """Reads dlib's packed int: a control byte, then 1-8 little-endian magnitude bytes.

        The control byte's low nibble is the byte count and 0x80 marks a negative value
        (never valid for an unsigned type).
        """
        start = self.offset
        control = self._take(1, what)[0]
        size = control & 0x0F
        if not 1 <= size <= 8:
            raise self.fail(f"{what} (an int of 1-8 bytes)", f"control byte {control:#04x}", start)
        negative = bool(control & 0x80)
        if negative and unsigned:
            raise self.fail(f"{what} (an unsigned int)", "a negative value", start)
        magnitude = int.from_bytes(self._take(size, what), "little")
        return -magnitude if negative else magnitude

    def read_float(self, what: str) -> float:
        """Reads a float_details value: int64 mantissa, int16 exponent; mantissa·2^exponent."""
        start = self.offset
        if start < len(self._data) and self._data[start] & 0x70:
            raise self.fail(
                f"{what} (binary float)", "the legacy ASCII float format (not supported)", start
            )
        mantissa = self.read_int(f"mantissa of {what}")
        exponent = self.read_int(f"exponent of {what}")
        if not -(2**15) <= exponent < 2**15 or not -(2**63) <= mantissa < 2**63:
            raise self.fail(
                f"{what} (int64 mantissa, int16 exponent)", f"{mantissa}·2^{exponent}", start
            )
        if exponent == _EXP_INF:
            return math.inf
        if exponent == _EXP_NINF:
            return -math.inf
        if exponent >= _EXP_NAN:
            return math.nan
        try:
            return math.ldexp(float(mantissa), exponent)
        except OverflowError:
            return math.copysign(math.inf, mantissa)

    def read_bool(self, what: str) -> bool:
        """Reads a bool, which dlib writes as the ASCII byte '0' or '1'."""
        start = self.offset
        byte = self._take(1, what).tobytes()
        if byte not in (b"0", b"1"):
            raise self.fail(f"{what} (bool '0' or '1')", f"byte {byte!r}", start)
        return byte == b"1"

    def read_string(self, what: str) -> str:
        """Reads a string: an unsigned length, then that many raw bytes."""
        start = self.offset
        length = self.read_int(f"length of {what}", unsigned=True)
        raw = self._take(length, what).tobytes()
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"{what} (an ASCII string)", f"bytes {raw[:16]!r}", start) from None

    def expect_int(self, value: int, what: str) -> None:
        """Reads an int and fails unless it equals `value` (version numbers)."""
        start = self.offset
        found = self.read_int(what)
        if found != value:
            raise self.fail(f"{what} = {value}", str(found), start)

    def read_tensor(self, what: str) -> np.ndarray:
        """Reads a resizable_tensor: version 2, 4 dims, then little-endian float32 values.

        Returns:
            (num_samples, k, nr, nc) float32 array.
        """
        self.expect_int(2, f"version of tensor {what}")
        shape = tuple(self.read_int(f"dimension of tensor {what}") for _ in range(4))
        if min(shape) < 0:
            raise self.fail(f"non-negative dimensions of tensor {what}", str(shape))
        count = math.prod(shape)
        raw = self._take(4 * count, f"float32 values of tensor {what} {shape}")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def read_alias(self, what: str) -> tuple[int, int, int, int]:
        """Reads an alias_tensor: version 1 and 4 dims (a view into a layer's params)."""
        self.expect_int(1, f"version of alias tensor {what}")
        return tuple(self.read_int(f"dimension of alias {what}") for _ in range(4))

    def expect_alias(self, shape: tuple[int, ...], what: str) -> None:
        """Reads an alias_tensor and fails unless its dims equal `shape`."""
        start = self.offset
        found = self.read_alias(what)
        if found != shape:
            raise self.fail(f"alias {what} of shape {shape}", str(found), start)

    def expect_end(self) -> None:
        """Fails unless every byte has been read."""
        left = len(self._data) - self.offset
        if left:
            raise self.fail("end of data", f"{left} more bytes")


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True, kw_only=True)
class Layer:
    """Fields every layer record has.

    Attributes:
        offset: byte offset of the layer's version string in the stream.
        tags_below: how many tag/skip wrappers sit between this layer and its input.
    """

    offset: int
    tags_below: int = 0


@dataclass(frozen=True, kw_only=True)
class Conv(Layer):
    """dlib `con_`: cross-correlation, symmetric zero padding, out = 1 + ⌊(N + 2p − k)/s⌋.

    Attributes:
        kernel: (filters, channels, rows, cols) float32, dlib's OIHW layout.
        bias: (filters,) float32, or None when the layer has no bias.
        stride: (y, x).
        padding: (y, x) zero rows/cols added on each side.
        fused_relu: True when the layer applies a ReLU itself (con_6 `use_relu`).
    """

    kernel: np.ndarray
    bias: np.ndarray | None
    stride: tuple[int, int]
    padding: tuple[int, int]
    fused_relu: bool = False


@dataclass(frozen=True, kw_only=True)
class Affine(Layer):
    """dlib `affine_`: y = gamma·x + beta (a frozen batch norm).

    Attributes:
        gamma, beta: float32 of the alias shape without its leading 1: (channels, 1, 1)
            per channel (conv mode) or (channels, rows, cols) per element (fc mode).
        disabled: True when dlib skips the layer (affine_2 `disabled`).
    """

    gamma: np.ndarray
    beta: np.ndarray
    disabled: bool = False


@dataclass(frozen=True, kw_only=True)
class Relu(Layer):
    """dlib `relu_`: max(x, 0); `disabled` (relu_2) makes it the identity."""

    disabled: bool = False


@dataclass(frozen=True, kw_only=True)
class AddPrev(Layer):
    """dlib `add_prev_`: adds a tagged earlier output; shapes are zero-padded to the larger."""


@dataclass(frozen=True, kw_only=True)
class Pool(Layer):
    """dlib `max_pool_` / `avg_pool_`; a 0×0 window means the whole input.

    Attributes:
        kind: "max" or "avg".
        size: window (rows, cols).
        stride: (y, x).
        padding: (y, x).
    """

    kind: str
    size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True, kw_only=True)
class FullyConnected(Layer):
    """dlib `fc_`: y = x·W (+ b).

    Attributes:
        weights: (inputs, outputs) float32, already a Keras Dense kernel's layout.
        bias: (outputs,) float32, or None for `fc_no_bias`.
    """

    weights: np.ndarray
    bias: np.ndarray | None


@dataclass(frozen=True)
class InputRgb:
    """dlib `input_rgb_image_sized`: the network sees (pixel − mean) / 256 per channel.

    Attributes:
        mean_rgb: per-channel means (red, green, blue) in pixel units.
        rows, cols: the fixed input size.
    """

    mean_rgb: tuple[float, float, float]
    rows: int
    cols: int


@dataclass(frozen=True)
class LossMetric:
    """dlib `loss_metric_`: training settings only; the network's output is the descriptor."""

    margin: float
    distance_threshold: float


@dataclass(frozen=True)
class Network:
    """A parsed network.

    Attributes:
        loss: the loss layer's settings.
        input: the input layer.
        layers: every computational layer, from input to output.
    """

    loss: LossMetric
    input: InputRgb
    layers: tuple[Layer, ...]


# ----------------------------------------------------------------------------- payloads


def _read_conv(reader: StreamReader, version: str, offset: int, tags_below: int) -> Conv:
    params = reader.read_tensor("con_ params").ravel()
    filters = reader.read_int("con_ num_filters")
    rows, cols = reader.read_int("con_ rows"), reader.read_int("con_ cols")
    stride = (reader.read_int("con_ stride_y"), reader.read_int("con_ stride_x"))
    padding = (reader.read_int("con_ padding_y"), reader.read_int("con_ padding_x"))
    alias_at = reader.offset
    kernel_shape = reader.read_alias("con_ filters")
    reader.read_alias("con_ biases")
    for name in ("learning_rate", "weight_decay", "bias_learning_rate", "bias_weight_decay"):
        reader.read_float(f"con_ {name} multiplier")
    use_bias = reader.read_bool("con_ use_bias") if version in ("con_5", "con_6") else True
    fused_relu = reader.read_bool("con_ use_relu") if version == "con_6" else False
    channels = kernel_shape[1]
    if kernel_shape != (filters, channels, rows, cols):
        raise reader.fail(
            f"filter alias ({filters}, channels, {rows}, {cols})", str(kernel_shape), alias_at
        )
    weight_count = math.prod(kernel_shape)
    expected = weight_count + (filters if use_bias else 0)
    if params.size != expected:
        raise reader.fail(f"{expected} con_ params", str(params.size), offset)
    return Conv(
        offset=offset,
        tags_below=tags_below,
        kernel=params[:weight_count].reshape(kernel_shape),
        bias=params[weight_count:] if use_bias else None,
        stride=stride,
        padding=padding,
        fused_relu=fused_relu,
    )


def _read_affine(reader: StreamReader, version: str, offset: int, tags_below: int) -> Affine:
    params = reader.read_tensor("affine_ params").ravel()
    gamma_shape = reader.read_alias("affine_ gamma")
    reader.expect_alias(gamma_shape, "affine_ beta")
    reader.read_int("affine_ mode")
    disabled = reader.read_bool("affine_ disabled") if version == "affine_2" else False
    count = math.prod(gamma_shape)
    if params.size != 2 * count:
        raise reader.fail(f"{2 * count} affine_ params (gamma, beta)", str(params.size), offset)
    return Affine(
        offset=offset,
        tags_below=tags_below,
        gamma=params[:count].reshape(gamma_shape[1:]),
        beta=params[count:].reshape(gamma_shape[1:]),
        disabled=disabled,
    )


def _read_relu(reader: StreamReader, version: str, offset: int, tags_below: int) -> Relu:
    disabled = reader.read_bool("relu_ disabled") if version == "relu_2" else False
    return Relu(offset=offset, tags_below=tags_below, disabled=disabled)


def _read_add_prev(reader: StreamReader, version: str, offset: int, tags_below: int) -> AddPrev:
    return AddPrev(offset=offset, tags_below=tags_below)


def _read_pool(reader: StreamReader, version: str, offset: int, tags_below: int) -> Pool:
    size = (reader.read_int("pool rows"), reader.read_int("pool cols"))
    stride = (reader.read_int("pool stride_y"), reader.read_int("pool stride_x"))
    padding = (reader.read_int("pool padding_y"), reader.read_int("pool padding_x"))
    kind = version.split("_", 1)[0]
    return Pool(
        offset=offset, tags_below=tags_below, kind=kind, size=size, stride=stride, padding=padding
    )


def _read_fc(reader: StreamReader, version: str, offset: int, tags_below: int) -> FullyConnected:
    outputs = reader.read_int("fc_ num_outputs", unsigned=True)
    inputs = reader.read_int("fc_ num_inputs", unsigned=True)
    params = reader.read_tensor("fc_ params").ravel()
    reader.expect_alias((inputs, outputs, 1, 1), "fc_ weights")
    reader.read_alias("fc_ biases")
    bias_mode_at = reader.offset
    bias_mode = reader.read_int("fc_ bias_mode")
    if bias_mode not in (0, 1):
        raise reader.fail("fc_ bias_mode 0 (bias) or 1 (no bias)", str(bias_mode), bias_mode_at)
    for name in ("learning_rate", "weight_decay", "bias_learning_rate", "bias_weight_decay"):
        reader.read_float(f"fc_ {name} multiplier")
    use_bias = reader.read_bool("fc_ use_bias") if version == "fc_3" else True
    has_bias = bias_mode == 0 and use_bias
    rows = inputs + 1 if bias_mode == 0 else inputs
    if params.size != rows * outputs:
        raise reader.fail(f"{rows}×{outputs} fc_ params", str(params.size), offset)
    matrix = params.reshape(rows, outputs)
    return FullyConnected(
        offset=offset,
        tags_below=tags_below,
        weights=matrix[:inputs],
        bias=matrix[inputs] if has_bias else None,
    )


_LayerReader = Callable[[StreamReader, str, int, int], Layer]

# Version strings that dlib's own deserialize() accepts for these layer types.
_LAYER_READERS: dict[str, _LayerReader] = {
    "con_4": _read_conv, "con_5": _read_conv, "con_6": _read_conv,
    "affine_": _read_affine, "affine_2": _read_affine,
    "relu_": _read_relu, "relu_2": _read_relu,
    "add_prev_": _read_add_prev,
    "max_pool_2": _read_pool, "avg_pool_2": _read_pool,
    "fc_2": _read_fc, "fc_3": _read_fc,
}


def _read_layer(reader: StreamReader, tags_below: int) -> Layer:
    offset = reader.offset
    version = reader.read_string("layer type")
    layer_reader = _LAYER_READERS.get(version)
    if layer_reader is None:
        close = difflib.get_close_matches(version, list(_LAYER_READERS), n=1)
        hint = f" (closest supported: {close[0]!r})" if close else ""
        raise reader.fail(
            f"one of the layer types {', '.join(_LAYER_READERS)}", f"{version!r}{hint}", offset
        )
    return layer_reader(reader, version, offset, tags_below)


def _read_wrapper_state(reader: StreamReader, tensors: int) -> None:
    """Skips a wrapper's training state: 3 bools, then `tensors` (empty) tensors."""
    for name in ("setup_called", "gradient_input_is_stale", "output_and_gradient_disabled"):
        reader.read_bool(f"add_layer {name}")
    for _ in range(tensors):
        reader.read_tensor("add_layer training state")


def _read_input(reader: StreamReader) -> InputRgb:
    offset = reader.offset
    version = reader.read_string("input layer type")
    if version != "input_rgb_image_sized":
        raise reader.fail("input layer 'input_rgb_image_sized'", repr(version), offset)
    mean_rgb = tuple(reader.read_float(f"{c} mean") for c in ("red", "green", "blue"))
    rows = reader.read_int("input rows", unsigned=True)
    cols = reader.read_int("input cols", unsigned=True)
    return InputRgb(mean_rgb=mean_rgb, rows=rows, cols=cols)


def parse_network(data: bytes, source: str = "<bytes>") -> Network:
    """Parses a whole dlib `loss_metric` network stream, down to its last byte.

    Args:
        data: the file's bytes.
        source: a name for error messages.

    Returns:
        The network's loss settings, input layer and layers from input to output.

    Raises:
        DlibFormatError: if anything differs from the format described in the module
            docstring, or bytes are left over.
    """
    reader = StreamReader(data, source)
    reader.expect_int(1, "add_loss_layer version")
    loss_at = reader.offset
    loss_type = reader.read_string("loss type")
    if loss_type != "loss_metric_2":
        raise reader.fail("loss type 'loss_metric_2'", repr(loss_type), loss_at)
    loss = LossMetric(reader.read_float("loss margin"), reader.read_float("loss threshold"))

    # Wrapper versions, outermost first; each run of tag/skip wrappers belongs below the
    # next add_layer towards the output.
    wrappers: list[int] = []
    while not wrappers or wrappers[-1] != _INPUT_ADD_LAYER:
        at = reader.offset
        version = reader.read_int("layer wrapper version")
        if version not in (_TAG_OR_SKIP, _ADD_LAYER, _INPUT_ADD_LAYER):
            raise reader.fail(
                "layer wrapper version 1 (tag/skip), 2 (add_layer) or 3 (input add_layer)",
                str(version), at,
            )
        wrappers.append(version)
    input_layer = _read_input(reader)

    layers: list[Layer] = []
    tags_below = 0
    for position, version in enumerate(reversed(wrappers)):
        if version == _TAG_OR_SKIP:
            tags_below += 1
            continue
        layers.append(_read_layer(reader, tags_below))
        tags_below = 0
        is_input_layer = position == 0
        _read_wrapper_state(reader, tensors=3)
        if is_input_layer:
            reader.read_int("sample_expansion_factor")
    if tags_below:
        raise reader.fail("a layer above the outermost tag/skip wrapper", "none", loss_at)
    reader.expect_end()
    return Network(loss=loss, input=input_layer, layers=tuple(layers))
