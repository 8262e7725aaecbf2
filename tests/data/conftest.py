"""Fixtures for the data tests: small face folders in OpenFace's real CSV layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defgan_tf.aus import AU_CODES


def openface_header(name_column: str | None = "filename") -> str:
    """OpenFace's column names, leading spaces included (FeatureExtraction style)."""
    columns = ([name_column] if name_column else []) + [
        "frame", "face_id", "timestamp", "confidence", "success"]
    columns += [f"{code}_r" for code in AU_CODES] + [f"{code}_c" for code in AU_CODES]
    return ", ".join(columns)


def openface_row(intensities, name: str | None = None, frame: int = 1, confidence: float = 0.98,
                 success: int = 1) -> str:
    """One CSV row; `intensities` on OpenFace's 0–5 scale (strings are written as given)."""
    values = [name] if name is not None else []
    values += [str(frame), "0", f"{0.04 * frame:.3f}", f"{confidence:g}", str(success)]
    values += [v if isinstance(v, str) else f"{v:.2f}" for v in intensities]
    values += ["1" if not isinstance(v, str) and v > 1 else "0" for v in intensities]
    return ", ".join(values)


@dataclass
class FaceFolder:
    """A dataset folder written by `make_face_folder`."""

    root: Path
    names: list[str]
    aus: np.ndarray  # (N, 17) float32 in [0, 1], rounded as written (2 decimals / 5)
    images: np.ndarray  # (N, size, size, 3) uint8

    def csv(self) -> Path:
        return self.root / "aus_openface.csv"


def write_face_folder(root: Path, count: int = 12, size: int = 16, seed: int = 0,
                      test_count: int = 4) -> FaceFolder:
    """The synthetic-data layout: imgs/<id>.png, aus_openface.csv, train/test ids."""
    rng = np.random.default_rng(seed)
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    names = [f"face_{i:03d}.png" for i in range(count)]
    images = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    intensities = np.round(rng.uniform(0, 5, (count, len(AU_CODES))), 2)
    for name, image in zip(names, images):
        Image.fromarray(image).save(root / "imgs" / name)
    rows = [openface_row(values, name) for name, values in zip(names, intensities)]
    (root / "aus_openface.csv").write_text(
        openface_header() + "\n" + "\n".join(rows) + "\n")
    if test_count:
        (root / "train_ids.csv").write_text("\n".join(names[:-test_count]) + "\n")
        (root / "test_ids.csv").write_text("\n".join(names[-test_count:]) + "\n")
    return FaceFolder(root, names, (intensities / 5).astype(np.float32), images)


@pytest.fixture
def face_folder(tmp_path: Path) -> FaceFolder:
    return write_face_folder(tmp_path / "faces")


@dataclass(frozen=True)
class OpenFaceWriters:
    """The writers above, as a fixture (test modules cannot import conftest by name)."""

    header = staticmethod(openface_header)
    row = staticmethod(openface_row)
    folder = staticmethod(write_face_folder)


@pytest.fixture
def openface() -> OpenFaceWriters:
    return OpenFaceWriters()
