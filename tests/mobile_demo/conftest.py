"""One fp32 export of the tiny run shared by the demo tests."""

import pytest


@pytest.fixture(scope="session")
def tiny_tflite(tiny_run_dir, tmp_path_factory):
    """The tiny run (32², width 4) as an fp32 .tflite with its sidecar."""
    from export.tflite import export_run

    return export_run(tiny_run_dir, tmp_path_factory.mktemp("demo") / "tiny.tflite", "fp32")
