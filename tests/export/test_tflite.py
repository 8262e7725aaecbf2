"""TFLite variants: builtin ops only (a Flex op fails with its name), parity with Keras."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from defgan_tf.config import load_config
from defgan_tf.models import build_defgan
from export.report import PSNR_TARGETS_DB, keras_edits, parity, tflite_edits
from export.saved_model import ExportError
from export.tflite import check_quantization, convert_saved_model, write_tflite

# Measured on the tiny run (4 test faces): fp32 154 dB, fp16 74, dynamic 76, int8 61.
# The asserted floors are the targets (export.report.PSNR_TARGETS_DB), plus a
# largest-error bound per variant.
MAX_ABS_ERROR = {"fp32": 1e-4, "fp16": 0.02, "dynamic": 0.05, "int8": 0.1}


@pytest.fixture(scope="module")
def keras_reference(export_model, held_out_faces):
    return keras_edits(export_model[1], held_out_faces)


@pytest.mark.parametrize("quantization", ["fp32", "fp16", "dynamic", "int8"])
def test_variant_matches_keras_on_held_out_faces(quantization, tflite_files, held_out_faces,
                                                 keras_reference):
    result = parity(keras_reference, tflite_edits(tflite_files[quantization], held_out_faces))
    assert result["psnr_db"] >= PSNR_TARGETS_DB[quantization], result
    assert result["max_abs_error"] <= MAX_ABS_ERROR[quantization], result


def test_int8_keeps_only_the_warp_and_composition_float(tflite_files):
    meta = json.loads(tflite_files["int8"].with_name("tiny_int8.tflite.json").read_text())
    assert meta["ops"]["CONV_2D"] > 0 and meta["ops"]["QUANTIZE"] > 0
    # The warp's gathers run on float images; no convolution stays float.
    assert meta["float_ops"]["GATHER"] == 4
    assert "CONV_2D" not in meta["float_ops"] and "TRANSPOSE_CONV" not in meta["float_ops"]
    assert tflite_files["int8"].stat().st_size < 0.7 * tflite_files["fp32"].stat().st_size


def test_editing_backend_reads_the_tflite(tflite_files, export_model, held_out_faces):
    from defgan_tf.editing.backends import load_backend

    _, model = export_model
    face = held_out_faces[1]
    backend = load_backend(tflite_files["fp32"])
    out = backend.edit(face["image"], face["source_aus"], face["target_aus"])
    expected = model(face["image"], face["source_aus"], face["target_aus"])
    for key in ("edited", "deformed", "mask", "grid"):
        np.testing.assert_allclose(out[key], expected[key].numpy(), atol=1e-4, err_msg=key)
    np.testing.assert_allclose(backend.estimate_aus(face["image"]),
                               model.estimate_aus(face["image"]).numpy(), atol=1e-5)


def test_flex_op_fails_export_and_names_the_op(tmp_path):
    class SingularValues(keras.layers.Layer):
        def call(self, x):
            return tf.linalg.svd(x, compute_uv=False)  # TF-only kernel: Flex in TFLite

    inputs = keras.Input((4, 4))
    features = keras.layers.Dense(4)(inputs)
    model = keras.Model(inputs, [features, SingularValues()(features)])
    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = [tf.TensorSpec((1, 4, 4), tf.float32, name="image")]
    archive.add_endpoint("edit", lambda image: {"edited": model(image)[0]}, spec)
    archive.add_endpoint("estimate_aus", lambda image: {"aus": model(image)[1]}, spec)
    archive.write_out(str(tmp_path / "svd"), verbose=False)
    with pytest.raises(ExportError, match=r"outside LiteRT's builtins: Svd\."):
        convert_saved_model(tmp_path / "svd", "fp32")


def test_unknown_quantization_names_the_closest():
    with pytest.raises(ExportError, match=r"Received: 'in8'\. Did you mean int8\?"):
        check_quantization("in8")


@pytest.mark.parametrize("decoder, texture", [("conv", "color"), ("unet", "per_au")])
def test_per_au_heads_convert_with_builtins_and_match_keras(tmp_path, decoder, texture):
    config = load_config(None, ["model.image_size=32", "model.generator_width=4",
                                "model.n_res=1", "model.critic_width=4",
                                "identity.embedder=none", "model.deformation_head=per_au",
                                f"model.deformation_decoder={decoder}",
                                f"model.texture_head={texture}"])
    model = build_defgan(config, with_embedder=False)
    heads = [(model.deformation_generator.field_head.kernel, 0.5)]  # zero-init: no motion
    if texture == "per_au":  # nor paint; changes of ~0.1, as a trained head paints
        heads.append((model.texture_generator.change_head.kernel, 0.01))
    for head, std in heads:
        head.assign(tf.random.normal(head.shape, stddev=std, seed=4))
    rng = np.random.default_rng(5)
    faces = [{"image": rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32),
              "source_aus": rng.uniform(0, 1, (1, 17)).astype(np.float32),
              "target_aus": rng.uniform(0, 1, (1, 17)).astype(np.float32)} for _ in range(2)]
    reference = keras_edits(model, faces)
    assert np.abs(reference - np.concatenate([f["image"] for f in faces])).mean() > 0.01
    path = write_tflite(model, config, tmp_path / "per_au.tflite")
    result = parity(reference, tflite_edits(path, faces))
    assert result["max_abs_error"] <= MAX_ABS_ERROR["fp32"], result


def _no_load(*args, **kwargs):
    pytest.fail("the run was loaded before --out was checked")


def test_cli_refuses_a_folder_out_before_loading(tmp_path, monkeypatch, capsys):
    from export import tflite

    monkeypatch.setattr(tflite, "load_for_export", _no_load)
    out = tmp_path / "outdir"
    out.mkdir()
    assert tflite.main(["--run", str(tmp_path), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {out} is a folder; give the .tflite file to write, e.g. "
        f"--out {out / 'defgan.tflite'}.\n")
    assert list(out.iterdir()) == []


def test_cli_refuses_an_out_without_the_tflite_suffix(tmp_path, monkeypatch, capsys):
    from export import tflite

    monkeypatch.setattr(tflite, "load_for_export", _no_load)
    out = tmp_path / "noext"
    assert tflite.main(["--run", str(tmp_path), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {out} does not end in .tflite, which the editors require to open "
        f"it; e.g. --out {out}.tflite.\n")
    assert list(tmp_path.iterdir()) == []


def test_variants_check_their_paths_before_tracing(tmp_path, monkeypatch):
    from export import tflite

    monkeypatch.setattr(tflite, "write_saved_model", lambda *a, **k: pytest.fail("traced"))
    with pytest.raises(ExportError, match=r"does not end in \.tflite.*m\.bin\.tflite\.$"):
        tflite.write_tflite_variants(None, None, {"fp32": tmp_path / "m.bin"})


@pytest.mark.parametrize("value", ["0", "-1"])
def test_cli_samples_below_one_is_a_usage_error(value, tmp_path, monkeypatch, capsys):
    from export import tflite

    monkeypatch.setattr(tflite, "load_for_export", _no_load)
    with pytest.raises(SystemExit) as exit_info:
        tflite.main(["--run", str(tmp_path), "--out", str(tmp_path / "m.tflite"),
                     "--quant", "int8", "--samples", value])
    assert exit_info.value.code == 2
    assert f"argument --samples: must be ≥ 1, received {value}" in capsys.readouterr().err
