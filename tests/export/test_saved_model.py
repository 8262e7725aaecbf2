"""The SavedModel loads in a fresh process without this package and equals the Keras model."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

# Runs with plain TensorFlow: the project's packages are made unimportable, so the
# SavedModel must carry everything (variables, warp, signatures) itself.
FRESH_PROCESS = textwrap.dedent("""
    import importlib.abc, sys
    class NoProject(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("defgan_tf", "export", "mobile_demo"):
                raise ImportError(f"{name} must not be needed to load the SavedModel")
    sys.meta_path.insert(0, NoProject())
    import numpy as np, tensorflow as tf
    directory, inputs_file, outputs_file = sys.argv[1:]
    loaded = tf.saved_model.load(directory)
    x = dict(np.load(inputs_file))
    out = {}
    for name, result in [
        ("edit", loaded.signatures["edit"](image=x["image"], source_aus=x["source_aus"],
                                          target_aus=x["target_aus"])),
        ("estimate_aus", loaded.signatures["estimate_aus"](image=x["image"])),
        ("edit_to", loaded.signatures["edit_to"](image=x["image"], target_aus=x["target_aus"])),
        ("edit_uint8", loaded.signatures["edit_uint8"](
            image=x["image_uint8"], source_aus=x["source_aus"], target_aus=x["target_aus"])),
    ]:
        out.update({f"{name}/{key}": value.numpy() for key, value in result.items()})
    assert not [m for m in sys.modules if m.startswith(("defgan_tf", "export"))]
    np.savez(outputs_file, signatures=np.array(sorted(loaded.signatures)), **out)
""")


@pytest.fixture(scope="module")
def fresh_outputs(saved_model_dir, held_out_faces, tmp_path_factory):
    """Inputs (3 faces as one batch) and what the fresh process computed from them."""
    folder = tmp_path_factory.mktemp("fresh")
    image_uint8 = np.array([[[10, 128, 250]]], np.uint8) * np.ones((3, 32, 32, 1), np.uint8)
    inputs = {key: np.concatenate([face[key] for face in held_out_faces[:3]])
              for key in ("image", "source_aus", "target_aus")}
    inputs["image_uint8"] = image_uint8
    np.savez(folder / "inputs.npz", **inputs)
    (folder / "script.py").write_text(FRESH_PROCESS)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, str(folder / "script.py"), str(saved_model_dir),
                    str(folder / "inputs.npz"), str(folder / "outputs.npz")],
                   cwd=folder, env=env, check=True, timeout=300)
    return inputs, dict(np.load(folder / "outputs.npz"))


def test_fresh_process_edit_equals_keras(export_model, fresh_outputs):
    _, model = export_model
    inputs, out = fresh_outputs
    expected = model(inputs["image"], inputs["source_aus"], inputs["target_aus"])
    for key in ("edited", "deformed", "mask", "grid"):
        np.testing.assert_allclose(out[f"edit/{key}"], expected[key].numpy(), atol=1e-5,
                                   err_msg=key)
    # The faces really are edited (a loaded model returning its input would pass otherwise).
    assert np.abs(out["edit/edited"] - inputs["image"]).max() > 1e-3


def test_fresh_process_estimate_aus_and_edit_to(export_model, fresh_outputs):
    _, model = export_model
    inputs, out = fresh_outputs
    aus = model.estimate_aus(inputs["image"]).numpy()
    np.testing.assert_allclose(out["estimate_aus/aus"], aus, atol=1e-6)
    np.testing.assert_allclose(out["edit_to/source_aus"], aus, atol=1e-6)
    expected = model(inputs["image"], aus, inputs["target_aus"])["edited"].numpy()
    np.testing.assert_allclose(out["edit_to/edited"], expected, atol=1e-5)


def test_fresh_process_uint8_signature(export_model, fresh_outputs):
    _, model = export_model
    inputs, out = fresh_outputs
    image = inputs["image_uint8"].astype(np.float32) / 127.5 - 1.0
    edited = model(image, inputs["source_aus"], inputs["target_aus"])["edited"].numpy()
    expected = np.clip(np.rint((edited + 1.0) * 127.5), 0, 255)
    assert out["edit_uint8/edited"].dtype == np.uint8
    assert np.abs(out["edit_uint8/edited"].astype(np.float32) - expected).max() <= 1


def test_signatures_and_metadata(saved_model_dir, fresh_outputs, export_model):
    config, _ = export_model
    _, out = fresh_outputs
    assert set(out["signatures"]) >= {"edit", "estimate_aus", "edit_to", "edit_uint8",
                                      "estimate_aus_uint8", "edit_to_uint8"}
    meta = json.loads((saved_model_dir / "defgan_export.json").read_text())
    assert meta["config_hash"] == config.hash()
    assert meta["signatures"]["edit_to"]["inputs"] == {"image": "image",
                                                       "target_aus": "target_aus"}


def test_editing_backend_reads_the_export(saved_model_dir, export_model, held_out_faces):
    from defgan_tf.editing.backends import load_backend

    _, model = export_model
    face = held_out_faces[0]
    backend = load_backend(saved_model_dir)
    assert backend.image_size == 32
    edited = backend.edit(face["image"], face["source_aus"], face["target_aus"])["edited"]
    expected = model(face["image"], face["source_aus"], face["target_aus"])["edited"]
    np.testing.assert_allclose(edited, expected.numpy(), atol=1e-5)


def test_not_a_run_directory_is_an_export_error(tmp_path):
    from export.saved_model import ExportError, load_for_export

    with pytest.raises(ExportError, match="is not a run directory: it has no config.yaml"):
        load_for_export(tmp_path)


def _no_load(*args, **kwargs):
    pytest.fail("the run was loaded before --out was checked")


def test_cli_refuses_a_file_out_before_loading(tmp_path, monkeypatch, capsys):
    from export import saved_model

    monkeypatch.setattr(saved_model, "load_for_export", _no_load)
    out = tmp_path / "afile"
    out.write_text("mine")
    assert saved_model.main(["--run", str(tmp_path), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {out} is a file; a SavedModel is a folder. Choose a new or empty "
        "folder, or an earlier export to replace.\n")
    assert out.read_text() == "mine"


def test_cli_refuses_a_folder_of_other_files(tmp_path, monkeypatch, capsys):
    from export import saved_model

    monkeypatch.setattr(saved_model, "load_for_export", _no_load)
    out = tmp_path / "photos"
    out.mkdir()
    (out / "me.png").write_text("mine")
    assert saved_model.main(["--run", str(tmp_path), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {out} holds other files and is not an earlier export (no "
        "defgan_export.json). Choose a new or empty folder.\n")
    assert [p.name for p in out.iterdir()] == ["me.png"]


class _FakeArchive:
    """Writes a one-file 'SavedModel' (optionally failing after it): no tracing needed."""

    def __init__(self, fail: bool = False):
        self.fail = fail

    def write_out(self, path, verbose=False):
        os.makedirs(path)
        with open(os.path.join(path, "saved_model.pb"), "w") as file:
            file.write("new")
        if self.fail:
            raise KeyboardInterrupt


@pytest.fixture
def earlier_export(tmp_path):
    """An earlier export in tmp_path/sm: metadata, a model and a file only it had."""
    out = tmp_path / "sm"
    out.mkdir()
    for name in ("defgan_export.json", "saved_model.pb", "only_in_old.txt"):
        (out / name).write_text("old")
    return out


def _write_with(archive, out, monkeypatch):
    import types

    from defgan_tf.config import load_config
    from export import saved_model

    monkeypatch.setattr(saved_model, "build_archive", lambda *a, **k: archive)
    return saved_model.write_saved_model(types.SimpleNamespace(held_weights="raw"),
                                         load_config(None), out)


def test_reexport_replaces_the_earlier_export_whole(earlier_export, monkeypatch):
    _write_with(_FakeArchive(), earlier_export, monkeypatch)
    assert sorted(p.name for p in earlier_export.iterdir()) == ["defgan_export.json",
                                                                "saved_model.pb"]
    assert (earlier_export / "saved_model.pb").read_text() == "new"
    assert json.loads((earlier_export / "defgan_export.json").read_text())["format"] == \
        "saved_model"
    assert [p.name for p in earlier_export.parent.iterdir()] == ["sm"]  # no hidden leftovers


def test_interrupted_reexport_leaves_the_earlier_export(earlier_export, monkeypatch):
    with pytest.raises(KeyboardInterrupt):
        _write_with(_FakeArchive(fail=True), earlier_export, monkeypatch)
    assert {p.name: p.read_text() for p in earlier_export.iterdir()} == {
        "defgan_export.json": "old", "saved_model.pb": "old", "only_in_old.txt": "old"}
    assert [p.name for p in earlier_export.parent.iterdir()] == ["sm"]
