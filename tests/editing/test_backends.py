"""Tests that the Keras, SavedModel and TFLite backends give the same edit."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from defgan_tf.aus import AU_CODES, NUM_AUS
from defgan_tf.editing.backends import (
    MAP_NAMES,
    BackendError,
    SavedModelBackend,
    TFLiteBackend,
    images_from_model,
    images_to_model,
    load_backend,
)
from defgan_tf.editing.editor import Editor

SIZE = 32


class _Signatures(tf.Module):
    """The documented export interface, written here the simplest way."""

    def __init__(self, model, batch=None, reverse_aus=False):
        super().__init__()
        order = slice(None, None, -1 if reverse_aus else 1)  # the exported AU order
        # Track the TF variables only: tracking the Keras model would add its own signature.
        self.weights = [variable.value for variable in model.weights]
        image = tf.TensorSpec((batch, SIZE, SIZE, 3), tf.float32, name="image")
        aus = tf.TensorSpec((batch, NUM_AUS), tf.float32)

        def edit(image, source_aus, target_aus):
            return model(image, source_aus[:, order], target_aus[:, order])

        def estimate_aus(image):
            return {"aus": model.estimate_aus(image)[:, order]}

        self.edit = tf.function(edit, input_signature=[image, aus, aus])
        self.estimate_aus = tf.function(estimate_aus, input_signature=[image])


@pytest.fixture(scope="module")
def saved_model_dir(tmp_path_factory, tiny_model):
    path = tmp_path_factory.mktemp("export") / "saved_model"
    module = _Signatures(tiny_model)
    tf.saved_model.save(module, str(path),
                        signatures={"edit": module.edit, "estimate_aus": module.estimate_aus})
    return path


def _convert(function, path):
    """Converts a tf.function to .tflite; returns its input and output tensor names by role.

    Variables are frozen first: with TF 2.21 / Keras 3, a converted graph that keeps
    resource variables reads them uninitialised in LiteRT (NaN outputs).
    """
    frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert())
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    # Inputs keep the argument names; dict outputs are Identity, Identity_1, ... in
    # sorted-key order.
    inputs = {d["name"]: d["name"] for d in interpreter.get_input_details()}
    outputs = sorted((d["name"] for d in interpreter.get_output_details()),
                     key=lambda name: int(name.partition("_")[2] or 0))
    return inputs, outputs


@pytest.fixture(scope="module")
def tflite_file(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp("tflite")
    module = _Signatures(tiny_model, batch=1)
    inputs, outputs = _convert(module.edit, folder / "model.tflite")
    au_inputs, au_outputs = _convert(module.estimate_aus, folder / "aus.tflite")
    sidecar = {
        "au_codes": list(AU_CODES), "image_size": SIZE, "inputs": inputs,
        "outputs": dict(zip(sorted(MAP_NAMES), outputs)),
        "estimate_aus": {"file": "aus.tflite", "inputs": au_inputs,
                         "outputs": {"aus": au_outputs[0]}},
    }
    (folder / "model.tflite.json").write_text(json.dumps(sidecar))
    return folder / "model.tflite"


@pytest.fixture(scope="module")
def tflite_signatures_file(tmp_path_factory, tiny_model):
    """Converted from a SavedModel with both signatures, AUs in reverse order."""
    folder = tmp_path_factory.mktemp("tflite_signatures")
    module = _Signatures(tiny_model, batch=1, reverse_aus=True)
    tf.saved_model.save(module, str(folder / "saved_model"),
                        signatures={"edit": module.edit, "estimate_aus": module.estimate_aus})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(folder / "saved_model"),
                                                         ["edit", "estimate_aus"])
    (folder / "model.tflite").write_bytes(converter.convert())
    sidecar = {"au_codes": list(AU_CODES[::-1]), "image_size": SIZE}
    (folder / "model.tflite.json").write_text(json.dumps(sidecar))
    return folder / "model.tflite"


@pytest.fixture(scope="module")
def saved_model_backend(saved_model_dir):
    return load_backend(saved_model_dir)


@pytest.fixture(scope="module")
def tflite_backend(tflite_file):
    return load_backend(tflite_file)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    return image, rng.uniform(0, 1, (2, NUM_AUS)), rng.uniform(0, 1, (2, NUM_AUS))


def test_saved_model_matches_keras(saved_model_backend, keras_backend, batch):
    backend = saved_model_backend
    assert isinstance(backend, SavedModelBackend) and backend.image_size == SIZE
    expected, actual = keras_backend.edit(*batch), backend.edit(*batch)
    for name in MAP_NAMES:
        np.testing.assert_allclose(actual[name], expected[name], atol=1e-5)
    np.testing.assert_allclose(backend.estimate_aus(batch[0]),
                               keras_backend.estimate_aus(batch[0]), atol=1e-6)


def test_tflite_matches_keras(tflite_backend, keras_backend, batch):
    backend = tflite_backend
    assert isinstance(backend, TFLiteBackend) and backend.image_size == SIZE
    expected, actual = keras_backend.edit(*batch), backend.edit(*batch)
    for name in MAP_NAMES:
        np.testing.assert_allclose(actual[name], expected[name], atol=1e-4)
    np.testing.assert_allclose(backend.estimate_aus(batch[0]),
                               keras_backend.estimate_aus(batch[0]), atol=1e-5)


def test_tflite_signatures_and_au_order(tflite_signatures_file, keras_backend, batch):
    backend = load_backend(tflite_signatures_file)
    expected, actual = keras_backend.edit(*batch), backend.edit(*batch)
    for name in MAP_NAMES:
        np.testing.assert_allclose(actual[name], expected[name], atol=1e-4)
    np.testing.assert_allclose(backend.estimate_aus(batch[0]),
                               keras_backend.estimate_aus(batch[0]), atol=1e-5)


def test_three_backends_edit_a_photo_alike(saved_model_backend, tflite_backend, keras_backend,
                                           astronaut):
    images = [Editor(backend).edit(astronaut, expression="happy").image
              for backend in (keras_backend, saved_model_backend, tflite_backend)]
    for image in images[1:]:
        assert np.abs(image.astype(int) - images[0]).max() <= 1


def test_tflite_sidecar_problems(tflite_file, tmp_path):
    copy = tmp_path / "model.tflite"
    copy.write_bytes(tflite_file.read_bytes())
    with pytest.raises(BackendError, match=r"the sidecar model.tflite.json .* is missing"):
        TFLiteBackend(copy)
    sidecar = json.loads(tflite_file.with_name("model.tflite.json").read_text())
    sidecar.pop("estimate_aus")
    sidecar["image_size"] = 64
    (tmp_path / "model.tflite.json").write_text(json.dumps(sidecar))
    with pytest.raises(BackendError, match=r"image input is 32×32 but .* says image_size=64"):
        TFLiteBackend(copy)
    sidecar["image_size"] = SIZE
    (tmp_path / "model.tflite.json").write_text(json.dumps(sidecar))
    without_head = TFLiteBackend(copy)
    assert not without_head.has_au_estimator and TFLiteBackend(tflite_file).has_au_estimator
    with pytest.raises(BackendError, match="holds no AU estimator"):
        without_head.estimate_aus(np.zeros((1, SIZE, SIZE, 3), np.float32))


@pytest.mark.parametrize(("content", "message"), [
    ({"au_codes": list(AU_CODES)}, "image_size must be a positive whole number; received None"),
    ({"au_codes": list(AU_CODES), "image_size": "32"}, "received '32'. Re-export"),
    ([1, 2], "expected a JSON object, found list; re-export the model"),
    ("{'au_codes': []}", "not valid JSON (Expecting property name"),
])
def test_tflite_sidecar_contents_are_checked(tflite_file, tmp_path, content, message):
    copy = tmp_path / "model.tflite"
    copy.write_bytes(tflite_file.read_bytes())
    text = content if isinstance(content, str) else json.dumps(content)
    (tmp_path / "model.tflite.json").write_text(text)
    with pytest.raises(BackendError) as raised:
        TFLiteBackend(copy)
    assert str(raised.value).startswith(str(tmp_path / "model.tflite.json"))
    assert message in str(raised.value)


def test_saved_model_metadata_must_be_an_object(saved_model_dir, tmp_path):
    copy = tmp_path / "saved_model"
    shutil.copytree(saved_model_dir, copy)
    (copy / "defgan_export.json").write_text("[1]")
    with pytest.raises(BackendError, match=r"defgan_export.json: expected a JSON object, "
                                           "found list"):
        load_backend(copy)


def test_tflite_without_litert_says_what_to_install(tflite_file, without_litert):
    with pytest.raises(BackendError, match=r"pip install 'defgan-tf\[litert\]'"):
        TFLiteBackend(tflite_file)


def test_wrong_crop_size_and_unknown_path(keras_backend, tmp_path):
    with pytest.raises(BackendError, match=r"edits \(B, 32, 32, 3\) crops; received shape"):
        keras_backend.edit(np.zeros((1, 16, 16, 3)), np.zeros((1, 17)), np.zeros((1, 17)))
    with pytest.raises(BackendError, match="is not a model: expected a training run directory"):
        load_backend(tmp_path)


def test_exports_refuse_to_load_raw_weights(saved_model_dir, tflite_file):
    for export in (saved_model_dir, tflite_file):
        with pytest.raises(BackendError, match="Drop --no-ema to edit with them; for the raw "
                           "weights pass the training run directory"):
            load_backend(export, use_ema=False)


def test_exports_say_which_weights_they_hold(saved_model_dir, tflite_file, tmp_path):
    # These hand-made exports carry no "weights" in their metadata.
    assert [load_backend(p).weights for p in (saved_model_dir, tflite_file)] == [
        "as exported", "as exported"]
    copy = tmp_path / "saved_model"
    shutil.copytree(saved_model_dir, copy)
    (copy / "defgan_export.json").write_text('{"weights": "ema"}')
    assert load_backend(copy).weights == "ema"


def test_image_range_round_trip():
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    np.testing.assert_array_equal(images_from_model(images_to_model(pixels)), pixels)
    assert images_to_model(pixels).min() == -1.0 and images_to_model(pixels).max() == 1.0


def test_saved_model_with_other_signatures_is_refused(tmp_path):
    module = tf.Module()
    module.edit = tf.function(lambda x: {"edited": x},
                              input_signature=[tf.TensorSpec((None, SIZE, SIZE, 3))])
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.edit})
    with pytest.raises(BackendError, match="lacks the signature.* edit, estimate_aus; it has "
                                           "serving_default"):
        load_backend(tmp_path)
    tf.saved_model.save(module, str(tmp_path / "b"),
                        signatures={"edit": module.edit, "estimate_aus": module.edit})
    with pytest.raises(BackendError, match="the edit signature takes x; the editor passes image, "
                                           "source_aus, target_aus"):
        load_backend(tmp_path / "b")


@pytest.mark.slow  # the two exports take ~35 s on 2 cores
def test_run_dir_and_its_exports_edit_alike(tiny_run_dir, astronaut, tmp_path):
    """The full path: a trained run, `export.saved_model` and `export.tflite` on it."""
    from export import saved_model, tflite

    models = [tiny_run_dir, saved_model.export_run(tiny_run_dir, tmp_path / "saved_model"),
              tflite.export_run(tiny_run_dir, tmp_path / "model.tflite")]
    backends = [load_backend(path) for path in models]
    assert [b.name for b in backends] == ["keras", "saved_model", "tflite"]
    assert [b.weights for b in backends] == ["raw"] * 3  # the tiny run kept no average
    results = [Editor(b).edit(astronaut, expression="happy", return_maps=True) for b in backends]
    for result in results[1:]:
        assert np.abs(result.image.astype(int) - results[0].image).max() <= 1
        np.testing.assert_allclose(result.faces[0].source_aus, results[0].faces[0].source_aus,
                                   atol=1e-5)
        np.testing.assert_allclose(result.faces[0].maps["grid"],
                                   results[0].faces[0].maps["grid"], atol=1e-5)


def test_run_dir_edits_with_its_moving_average_unless_asked_not_to(tiny_run_dir, tmp_path,
                                                                   tiny_config_overrides):
    from defgan_tf.config import load_config
    from defgan_tf.training.loop import Trainer

    run_dir = tmp_path / "ema_run"
    config = load_config(None, [*tiny_config_overrides, "train.max_steps=2",
                                "model.ema_decay=0.5"])
    Trainer(config, run_dir, progress=False).run()
    ema, raw = load_backend(run_dir), load_backend(run_dir, use_ema=False)
    assert (ema.weights, raw.weights) == ("ema", "raw")
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    source, target = rng.uniform(0, 1, (2, 2, NUM_AUS)).astype(np.float32)
    assert np.abs(ema.edit(image, source, target)["edited"]
                  - raw.edit(image, source, target)["edited"]).max() > 1e-4
    # A run that kept no average edits with its raw weights either way.
    assert load_backend(tiny_run_dir).weights == "raw"
