"""The sidecar JSON beside every .tflite: AU order, image contract, presets, tensor names."""

import json

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from defgan_tf.aus import AU_CODES, PRESETS
from export.metadata import sidecar_path


@pytest.mark.parametrize("quantization", ["fp32", "int8"])
def test_sidecar_describes_the_model(quantization, tflite_files, export_model):
    config, _ = export_model
    path = tflite_files[quantization]
    meta = json.loads(sidecar_path(path).read_text())
    assert sidecar_path(path).name == f"tiny_{quantization}.tflite.json"
    assert meta["au_codes"] == list(AU_CODES)
    assert (meta["image_size"], meta["image_range"], meta["batch_size"]) == (32, [-1.0, 1.0], 1)
    assert meta["quantization"] == quantization and meta["config_hash"] == config.hash()
    assert set(meta["presets"]) == set(PRESETS)
    np.testing.assert_allclose(meta["presets"]["happy"], PRESETS["happy"], atol=1e-6)
    runner = Interpreter(model_path=str(path)).get_signature_runner("edit")
    names = {d["name"] for d in runner.get_input_details().values()}
    assert set(meta["inputs"]) == {"image", "source_aus", "target_aus"}
    assert set(meta["inputs"].values()) == names
    assert set(meta["outputs"]) == {"edited", "deformed", "mask", "grid"}
    assert set(meta["estimate_aus"]["outputs"]) == {"aus"}
    assert meta["weights"] == "raw"  # the tiny run kept no moving average


def test_tflite_export_without_litert_stops_before_converting(export_model, tmp_path,
                                                              monkeypatch, without_litert):
    from export import tflite

    monkeypatch.setattr(tflite, "write_saved_model", lambda *a, **k: pytest.fail("traced"))
    config, model = export_model
    with pytest.raises(tflite.ExportError, match=r"pip install 'defgan-tf\[litert\]'"):
        tflite.write_tflite(model, config, tmp_path / "m.tflite")
    assert list(tmp_path.iterdir()) == []
