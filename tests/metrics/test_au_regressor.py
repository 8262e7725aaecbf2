"""The AU regressor: train, save, reload, predict, and the errors people see."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from defgan_tf.aus import AU_CODES
from defgan_tf.metrics import au_regressor
from defgan_tf.metrics.au_regressor import (
    build_au_regressor,
    load_au_regressor,
    main,
    save_au_regressor,
    sidecar_path,
    train_au_regressor,
)


def test_train_save_load_predict(tiny_data_dir, tmp_path):
    out = tmp_path / "reg.keras"
    info = train_au_regressor(tiny_data_dir, out, image_size=32, epochs=1, width=4)
    saved = json.loads(sidecar_path(out).read_text())
    assert saved == info and saved["au_codes"] == list(AU_CODES)
    assert saved["data"]["train_images"] + saved["data"]["val_images"] == 48
    assert saved["data"]["validation"] == "test split (test_ids.csv)"
    assert set(saved["val_mae_per_au"]) == set(AU_CODES)
    regressor = load_au_regressor(out)
    faces = np.zeros((3, 64, 64, 3), np.float32)  # another size: resized to 32
    measured = regressor.predict(faces)
    assert measured.shape == (3, 17) and np.all((measured >= 0) & (measured <= 1))
    assert np.allclose(measured, regressor.predict(faces[:, ::2, ::2]), atol=1e-5)


def test_errors(tmp_path, tiny_data_dir):
    with pytest.raises(FileNotFoundError, match="Train one with `python -m"):
        load_au_regressor(tmp_path / "missing.keras")
    with pytest.raises(ValueError, match=r"must end with .keras .*Received: .*reg.h5"):
        train_au_regressor(tiny_data_dir, tmp_path / "reg.h5")
    with pytest.raises(ValueError, match="too small for 4 stride-2 stages"):
        build_au_regressor(16)


def test_cli_rejects_a_missing_dataset(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(tmp_path / "none"), "--out", str(tmp_path / "r.keras"), "--quiet"])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--batch-size", "0"], "--batch-size must be ≥ 1. Received: 0"),
    (["--epochs", "0"], "--epochs must be ≥ 1. Received: 0"),
    (["--width", "0"], "--width must be ≥ 1. Received: 0"),
    (["--image-size", "0"], "--image-size must be ≥ 32: the regressor halves it 4 times"),
    (["--image-size", "20"], "--image-size must be ≥ 32"),
])
def test_cli_checks_numbers_before_reading_the_data(tmp_path, capsys, argv, message):
    # The dataset does not exist: reading it first would fail with another message.
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(tmp_path / "none"), "--out", str(tmp_path / "r.keras"), *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.fixture
def old_pair(tmp_path):
    """A model file and sidecar from an earlier run (image_size 64)."""
    path = tmp_path / "reg.keras"
    path.write_bytes(b"old model")
    sidecar_path(path).write_text(json.dumps({"image_size": 64, "au_codes": list(AU_CODES)}))
    return path


def test_an_interrupted_model_save_keeps_the_old_pair_whole(old_pair, monkeypatch):
    before = {p.name: p.read_bytes() for p in old_pair.parent.iterdir()}

    def interrupted(model, filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"half a ")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_au_regressor(build_au_regressor(32, width=2), {"image_size": 32}, old_pair)
    assert {p.name: p.read_bytes() for p in old_pair.parent.iterdir()} == before


def test_a_new_model_is_never_paired_with_the_old_sidecar_unnoticed(tmp_path, monkeypatch):
    path = tmp_path / "reg.keras"
    info = {"image_size": 32, "au_codes": list(AU_CODES)}
    save_au_regressor(build_au_regressor(32, width=2), info, path)
    write_text = au_regressor.files.write_text

    def stopped_after(target, text):  # the new sidecar lands, the new model does not
        write_text(target, text)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(au_regressor.files, "write_text", stopped_after)
        with pytest.raises(KeyboardInterrupt):
            save_au_regressor(build_au_regressor(32, width=3), info, path)
    with pytest.raises(ValueError, match=r"reg\.keras\.json describes another model than "
                                         r".*reg\.keras \(an interrupted save\?\)"):
        load_au_regressor(path)
    save_au_regressor(build_au_regressor(32, width=3), info, path)
    assert load_au_regressor(path).image_size == 32


def test_unreadable_files_are_named(old_pair):
    with pytest.raises(ValueError, match=r"reg\.keras: not a \.keras model Keras can read"):
        load_au_regressor(old_pair)  # b"old model" is not a zip
    sidecar_path(old_pair).write_text("{not json")
    with pytest.raises(ValueError, match=r"reg\.keras\.json: not a regressor sidecar"):
        load_au_regressor(old_pair)
