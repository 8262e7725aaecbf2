"""Exports of the tiny trained run, made once per session and shared by the export tests."""

import pytest


@pytest.fixture(scope="session")
def export_model(tiny_run_dir):
    """(config, built DefGAN) of the tiny run, as the exporters load it."""
    from export.saved_model import load_for_export

    return load_for_export(tiny_run_dir)


@pytest.fixture(scope="session")
def held_out_faces(export_model):
    """4 faces of the tiny dataset's test split, batch 1 each, with sampled target AUs."""
    from export.tflite import dataset_faces

    return dataset_faces(export_model[0], 4, split="test")


@pytest.fixture(scope="session")
def saved_model_dir(tmp_path_factory, export_model):
    """The tiny run exported as a serving SavedModel (dynamic batch, uint8 twins)."""
    from export.saved_model import write_saved_model

    config, model = export_model
    return write_saved_model(model, config, tmp_path_factory.mktemp("export") / "saved_model")


@pytest.fixture(scope="session")
def tflite_files(tmp_path_factory, export_model):
    """quantization → .tflite path of all four variants (int8 calibrated on 8 train faces)."""
    from export.tflite import QUANTIZATIONS, dataset_faces, write_tflite_variants

    config, model = export_model
    folder = tmp_path_factory.mktemp("tflite")
    faces = dataset_faces(config, 8)
    return write_tflite_variants(model, config, {q: folder / f"tiny_{q}.tflite"
                                                 for q in QUANTIZATIONS}, faces)
