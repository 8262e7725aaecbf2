"""Tests for the dlib stream reader: primitives, a hand-built network, the real file."""

import math
import struct
from collections import Counter

import numpy as np
import pytest

from defgan_tf.dlib_models import model_folder, model_path
from defgan_tf.identity.dlib_format import (
    Conv,
    DlibFormatError,
    Relu,
    StreamReader,
    parse_network,
)

# ----------------------------------------------------------------------------- primitives


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"\x01\x00", 0),
        (b"\x01\x02", 2),
        (b"\x81\x05", -5),
        (b"\x02\x2c\x01", 300),
        (b"\x82\x2c\x01", -300),
        (b"\x08\xff\xff\xff\xff\xff\xff\xff\x7f", 2**63 - 1),
    ],
)
def test_read_int(data, value):
    reader = StreamReader(data)
    assert reader.read_int("n") == value
    reader.expect_end()


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        (b"\x81\x05", {"unsigned": True}, "at byte 0: expected n (an unsigned int), found a "
         "negative value"),
        (b"\x09" + bytes(9), {}, "at byte 0: expected n (an int of 1-8 bytes), found control "
         "byte 0x09"),
        (b"\x00", {}, "at byte 0: expected n (an int of 1-8 bytes), found control byte 0x00"),
        (b"\x02\x01", {}, "at byte 1: expected 2 bytes of n, found end of data after 1 bytes"),
        (b"", {}, "at byte 0: expected 1 bytes of n, found end of data after 0 bytes"),
    ],
)
def test_read_int_errors(data, kwargs, message):
    with pytest.raises(DlibFormatError, match="^<bytes>: " + message.replace("(", r"\(")
                       .replace(")", r"\)")):
        StreamReader(data).read_int("n", **kwargs)


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"\x01\x03\x81\x01", 1.5),  # 3·2^-1
        (b"\x81\x01\x01\x01", -2.0),  # -1·2^1
        (b"\x01\x00\x01\x00", 0.0),
        # The loss margin at the start of dlib_face_recognition_resnet_model_v1.dat.
        (b"\x03\x0a\xd7\xa3\x81\x1c", 0x0A3D70A * 2.0**-28),
        (b"\x01\x00\x02\x00\x7d", math.inf),  # exponent 32000
        (b"\x01\x00\x02\x01\x7d", -math.inf),  # exponent 32001
    ],
)
def test_read_float(data, value):
    reader = StreamReader(data)
    assert reader.read_float("x") == value
    reader.expect_end()


def test_read_float_nan_and_limits():
    assert math.isnan(StreamReader(b"\x01\x00\x02\x02\x7d").read_float("x"))  # 32002
    assert StreamReader(b"\x01\x01\x02\xff\x7c").read_float("x") == math.inf  # 2^31999
    with pytest.raises(DlibFormatError, match="int16 exponent"):
        StreamReader(b"\x01\x01\x03\x00\x00\x01").read_float("x")
    with pytest.raises(DlibFormatError, match="legacy ASCII float format"):
        StreamReader(b"1.5 ").read_float("x")


def test_read_bool_string_and_alias():
    reader = StreamReader(b"10\x01\x05hello\x01\x01\x01\x02\x01\x03\x01\x01\x01\x01")
    assert reader.read_bool("a") is True
    assert reader.read_bool("b") is False
    assert reader.read_string("s") == "hello"
    assert reader.read_alias("w") == (2, 3, 1, 1)
    reader.expect_end()
    with pytest.raises(DlibFormatError, match=r"expected b \(bool '0' or '1'\), found byte"):
        StreamReader(b"\x01").read_bool("b")


def test_read_tensor():
    values = struct.pack("<2f", 1.5, -2.0)
    data = b"\x01\x02" + b"\x01\x01\x01\x02\x01\x01\x01\x01" + values
    tensor = StreamReader(data).read_tensor("t")
    assert tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor, np.array([1.5, -2.0]).reshape(1, 2, 1, 1))
    with pytest.raises(DlibFormatError, match="expected version of tensor t = 2, found 3"):
        StreamReader(b"\x01\x03").read_tensor("t")
    with pytest.raises(DlibFormatError, match=r"expected 8 bytes of float32 values of tensor t "
                       r"\(1, 2, 1, 1\), found end of data after 4 bytes"):
        StreamReader(data[:-4]).read_tensor("t")


# ----------------------------------------------------------------------------- a tiny network


def _int(value: int) -> bytes:
    magnitude = abs(value).to_bytes(max(1, (abs(value).bit_length() + 7) // 8), "little")
    return bytes([len(magnitude) | (0x80 if value < 0 else 0)]) + magnitude


def _float(value: float) -> bytes:
    numerator, denominator = float(value).as_integer_ratio()  # denominator = 2^k
    return _int(numerator) + _int(-(denominator.bit_length() - 1))


def _str(text: str) -> bytes:
    return _int(len(text)) + text.encode()


def _tensor(array: np.ndarray) -> bytes:
    return _int(2) + b"".join(_int(d) for d in array.shape) + array.astype("<f4").tobytes()


def _state() -> bytes:  # an add_layer's 3 bools and 3 empty tensors
    return b"000" + _tensor(np.zeros((0, 0, 0, 0))) * 3


_KERNEL = np.arange(2 * 3 * 1 * 1, dtype=np.float32).reshape(2, 3, 1, 1)


def _tiny_network() -> bytes:
    """relu<tag1<con<2,1,1,1,1,input_rgb_image_sized<150>>>> under loss_metric."""
    conv = (
        _str("con_4") + _tensor(np.append(_KERNEL, [0.5, -0.5]).reshape(-1, 1, 1, 1))
        + _int(2) + _int(1) + _int(1) + _int(1) + _int(1) + _int(0) + _int(0)
        + _int(1) + _int(2) + _int(3) + _int(1) + _int(1)  # filters alias (2, 3, 1, 1)
        + _int(1) + _int(1) + _int(2) + _int(1) + _int(1)  # biases alias (1, 2, 1, 1)
        + _float(1) + _float(1) + _float(1) + _float(0)
    )
    return (
        _int(1) + _str("loss_metric_2") + _float(0.25) + _float(0.5)
        + _int(2) + _int(1) + _int(3)
        + _str("input_rgb_image_sized") + _float(128) + _float(64) + _float(32)
        + _int(150) + _int(150)
        + conv + _state() + _int(1)
        + _str("relu_") + _state()
    )


def test_parse_tiny_network():
    network = parse_network(_tiny_network())
    assert network.loss.margin == 0.25 and network.loss.distance_threshold == 0.5
    assert network.input.mean_rgb == (128.0, 64.0, 32.0)
    assert (network.input.rows, network.input.cols) == (150, 150)
    conv, relu = network.layers
    assert isinstance(conv, Conv) and isinstance(relu, Relu)
    np.testing.assert_array_equal(conv.kernel, _KERNEL)
    np.testing.assert_array_equal(conv.bias, [0.5, -0.5])
    assert conv.stride == (1, 1) and conv.padding == (0, 0) and conv.tags_below == 0
    assert relu.tags_below == 1 and not relu.disabled


def test_parse_errors_name_the_byte():
    data = _tiny_network()
    with pytest.raises(DlibFormatError, match=f"at byte {len(data) - 1}: expected 1 bytes of "
                       "dimension of tensor add_layer training state, found end of data"):
        parse_network(data[:-1])
    with pytest.raises(DlibFormatError, match=f"at byte {len(data)}: expected end of data, "
                       "found 1 more bytes"):
        parse_network(data + b"\x00")
    garbled = data.replace(b"relu_", b"rely_")
    with pytest.raises(DlibFormatError, match=r"found 'rely_' \(closest supported: 'relu_'\)"):
        parse_network(garbled)
    with pytest.raises(DlibFormatError, match="expected loss type 'loss_metric_2', found "
                       "'loss_multiclass_log_'"):
        parse_network(data.replace(_str("loss_metric_2"), _str("loss_multiclass_log_")))


# ----------------------------------------------------------------------------- the real file


@pytest.fixture(scope="module")
def model_bytes():
    requires_dlib_models()
    with open(model_path("descriptor"), "rb") as handle:
        return handle.read()


def test_parse_real_file(model_bytes):
    network = parse_network(model_bytes)
    counts = Counter(type(layer).__name__ for layer in network.layers)
    assert counts == {"Conv": 29, "Affine": 29, "Relu": 29, "AddPrev": 14, "Pool": 6,
                      "FullyConnected": 1}
    assert sum(layer.tags_below for layer in network.layers) == 22
    np.testing.assert_allclose(network.input.mean_rgb, (122.782, 117.001, 104.298), atol=1e-4)
    assert network.loss.distance_threshold == pytest.approx(0.6)
    assert network.layers[-1].weights.shape == (256, 128)


def test_truncated_real_file(model_bytes):
    cut = len(model_bytes) // 2
    with pytest.raises(DlibFormatError, match=r"^model.dat: at byte \d+: expected \d+ bytes of "
                       r"float32 values of tensor .* found end of data after \d+ bytes"):
        parse_network(model_bytes[:cut], "model.dat")


def requires_dlib_models():
    """Skips unless the `faces` extra's model files are installed (CI installs them)."""
    if model_folder() is None:
        pytest.skip("needs the `faces` extra (face-recognition-models)")
    return model_folder()
