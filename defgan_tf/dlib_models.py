"""Where the dlib model files of `face-recognition-models` (the `faces` extra) live.

The package is located, not imported: its __init__ needs pkg_resources, which setuptools
no longer ships (≥ 81), so `import face_recognition_models` fails on current installs
although its files are there.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

FILES = {
    "five": "shape_predictor_5_face_landmarks.dat",
    "sixty_eight": "shape_predictor_68_face_landmarks.dat",
    "cnn": "mmod_human_face_detector.dat",
    "descriptor": "dlib_face_recognition_resnet_model_v1.dat",
}


def model_folder() -> Path | None:
    """The package's `models/` folder, or None when `face-recognition-models` is absent."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder if all((folder / f).is_file() for f in FILES.values()) else None


def model_path(name: str) -> Path:
    """Path of one model file by its short name (a key of FILES).

    Raises:
        ModuleNotFoundError: the `faces` extra is not installed, saying how to get it.
    """
    folder = model_folder()
    if folder is None:
        raise ModuleNotFoundError(
            f"{FILES[name]} comes with the `faces` extra: pip install 'defgan-tf[faces]'.")
    return folder / FILES[name]
