"""The AU regressor: train, save, reload, predict, and the errors people see."""

import json

import numpy as np
import pytest

from defgan_tf.aus import AU_CODES
from defgan_tf.metrics.au_regressor import (
    build_au_regressor,
    load_au_regressor,
    main,
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
