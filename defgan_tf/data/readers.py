"""Dataset readers: OpenFace CSV folders, GANimation's layout and CSV manifests → one index.

Every reader returns a `DatasetIndex`: image paths, their (N, 17) AU vectors in [0, 1]
(OpenFace intensity / 5) and a `ReadReport` of everything left out and why (bad AU rows
with file:line, undecodable images, images without AU rows, AU rows without images).
All file access goes through tf.io.gfile, so `gs://` folders work like local ones.
"""

from __future__ import annotations

import io
import pickle
import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from defgan_tf.aus import (
    AU_CODES,
    NUM_AUS,
    OPENFACE_MAX_INTENSITY,
    OpenFaceFormatError,
    OpenFaceTable,
    intensity_problem,
    read_openface_csv,
)
from defgan_tf.config import DATA_FORMATS, ConfigError, DataConfig, did_you_mean
from defgan_tf.data.images import find_undecodable
from defgan_tf.data.tfrecord import count_records, find_shards

SPLITS = ("train", "test", "all")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
SPLIT_FILES = {"train": "train_ids.csv", "test": "test_ids.csv"}
NAME_COLUMNS = ("filename", "input")
"""Columns that name a row's image in a per-folder OpenFace CSV, in order of preference."""


class DatasetError(ConfigError):
    """A dataset that cannot be used as given; the message says what to fix.

    A ConfigError, because the fix is in `data.*`: the commands print it without a
    traceback and exit with status 2.
    """


@dataclass
class SkippedRow:
    """An AU record left out.

    Attributes:
        where: "file:line" (CSV) or "file['key']" (pickle).
        reason: why, e.g. "AU06_r=-0.3 is negative" or "success=0 (...)".
        bad: True for values no OpenFace run writes (NaN, negative, > 5, malformed),
            which strict mode refuses; False for faces OpenFace did not track.
    """

    where: str
    reason: str
    bad: bool = True


@dataclass
class ReadReport:
    """What a reader left out, for the log at the start and the end of training."""

    skipped_rows: list[SkippedRow] = field(default_factory=list)
    bad_images: list[tuple[str, str]] = field(default_factory=list)
    images_without_aus: list[str] = field(default_factory=list)
    aus_without_images: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self, limit: int = 10) -> str:
        """Human-readable lines, at most `limit` entries per category."""
        sections = [
            ("AU row(s) skipped", [f"{r.where}: {r.reason}" for r in self.skipped_rows]),
            ("image(s) could not be decoded and were skipped",
             [f"{path}: {reason}" for path, reason in self.bad_images]),
            ("image(s) have no usable AU row", self.images_without_aus),
            ("AU row(s) have no image", self.aus_without_images),
            ("note(s)", self.notes),
        ]
        lines = []
        for title, entries in sections:
            if entries:
                lines.append(f"{len(entries)} {title}:")
                lines += [f"  {entry}" for entry in entries[:limit]]
                if len(entries) > limit:
                    lines.append(f"  ... and {len(entries) - limit} more")
        return "\n".join(lines) if lines else "nothing skipped"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (written next to TFRecords and into run directories)."""
        return {
            "skipped_rows": [[r.where, r.reason] for r in self.skipped_rows],
            "bad_images": [list(item) for item in self.bad_images],
            "images_without_aus": self.images_without_aus,
            "aus_without_images": self.aus_without_images,
            "notes": self.notes,
        }


@dataclass
class DatasetIndex:
    """What `pipeline.make_dataset` reads: image paths with AU labels, or TFRecord shards.

    Attributes:
        paths: N image paths (local or gs://), sorted; empty for TFRecords.
        aus: (N, 17) float32 in [0, 1], OpenFace intensity / 5, AU_CODES order.
        report: what was left out while reading.
        root: the dataset folder (or the manifest file) it was read from.
        shards: TFRecord files (format tfrecord); then `paths` is empty.
        num_records: examples in `shards`.
    """

    paths: list[str]
    aus: np.ndarray
    report: ReadReport = field(default_factory=ReadReport)
    root: str = ""
    shards: list[str] = field(default_factory=list)
    num_records: int = 0

    def __len__(self) -> int:
        """Number of examples (images, or TFRecord records)."""
        return len(self.paths) + self.num_records


# ----------------------------------------------------------------------------- helpers


def _stem(path: str) -> str:
    return posixpath.splitext(posixpath.basename(path.replace("\\", "/")))[0]


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _walk_files(root: str, keep: Callable[[str], bool]) -> list[str]:
    found = []
    for folder, _, files in tf.io.gfile.walk(root):
        found += [posixpath.join(folder, name) for name in files if keep(name)]
    return sorted(found)


def _list_images(folder: str, recursive: bool = True) -> list[str]:
    if recursive:
        return _walk_files(folder, _is_image)
    names = tf.io.gfile.listdir(folder)
    return sorted(posixpath.join(folder, name) for name in names if _is_image(name))


def _read_text(path: str) -> str:
    """The file decoded as UTF-8, with or without the byte-order mark Excel's "CSV UTF-8" writes.

    Raises:
        DatasetError: the file is not UTF-8 (Excel's plain "CSV", Latin-1, UTF-16, ...).
    """
    with tf.io.gfile.GFile(path, "rb") as handle:
        data = handle.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not UTF-8 (byte 0x{data[error.start]:02x} at offset "
                           f"{error.start}); save it as UTF-8 (Excel: \"CSV UTF-8\").") from None


def _image_dir(root: str) -> str:
    imgs = posixpath.join(root, "imgs")
    return imgs if tf.io.gfile.isdir(imgs) else root


def _check_folder(root: str, what: str) -> None:
    if not tf.io.gfile.isdir(root):
        raise DatasetError(f"{what}: dataset folder not found: {root}")


class _ImageLookup:
    """Finds an image by relative path, file name or stem (OpenFace CSVs use any of them)."""

    def __init__(self, images: list[str], base: str) -> None:
        self.by_key: dict[str, list[str]] = {}
        self.by_stem: dict[str, list[str]] = {}
        prefix = base.rstrip("/") + "/"
        for path in images:
            rel = path[len(prefix):] if path.startswith(prefix) else path
            for key in {rel, posixpath.basename(path), _stem(path)}:
                self.by_key.setdefault(key, []).append(path)
            self.by_stem.setdefault(_stem(path), []).append(path)

    def same_stem(self, path: str) -> str | None:
        """The image a per-image CSV belongs to: same stem, in its folder or unique."""
        matches = self.by_stem.get(_stem(path), [])
        beside = [m for m in matches if posixpath.dirname(m) == posixpath.dirname(path)]
        if len(beside) == 1:
            return beside[0]
        return matches[0] if len(matches) == 1 else None

    def find(self, name: str) -> str | None:
        name = name.strip().replace("\\", "/")
        for key in (name, posixpath.basename(name), _stem(name)):
            matches = self.by_key.get(key, [])
            if len(matches) == 1:
                return matches[0]
        return None


@dataclass
class _Collected:
    """Labels gathered by a reader before splits, missing files and decoding are checked."""

    aus: dict[str, np.ndarray] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)
    report: ReadReport = field(default_factory=ReadReport)

    def add(self, path: str, aus: np.ndarray, confidence: float = 1.0) -> None:
        """Keeps the most confident row when several label the same image."""
        if path not in self.aus or confidence > self.confidence[path]:
            self.aus[path] = aus
            self.confidence[path] = confidence

    def skip_table_rows(self, table: OpenFaceTable) -> None:
        skipped = [(line, reason, True) for line, reason in table.bad]
        skipped += [(line, reason, False) for line, reason in table.untracked]
        self.report.skipped_rows += [
            SkippedRow(f"{table.source}:{line}", reason, bad)
            for line, reason, bad in sorted(skipped)
        ]


# ----------------------------------------------------------------------------- OpenFace


def _read_table(path: str, collected: _Collected, min_confidence: float
                ) -> OpenFaceTable | None:
    try:
        text = _read_text(path)
    except DatasetError as error:  # any CSV under the folder is read, notes.csv too
        collected.report.notes.append(f"ignored {error}")
        return None
    try:
        table = read_openface_csv(io.StringIO(text), path, min_confidence)
    except OpenFaceFormatError as error:
        unrelated = len(error.missing) == NUM_AUS  # e.g. synthetic_meta.csv, notes.csv
        collected.report.notes.append(
            f"ignored {path}: not an OpenFace CSV" if unrelated else f"ignored {error}")
        return None
    collected.skip_table_rows(table)
    return table


def _frame_folder(csv_path: str, image_dir: str, root: str) -> str:
    """The folder whose sorted images are frames 1..N of a per-folder CSV without names.

    OpenFace `FeatureExtraction -fdir FOLDER` numbers the folder's images in sorted
    order and writes `FOLDER.csv`; so try FOLDER beside the CSV, under the root and
    under the image folder, then the CSV's own folder, then the image folder.
    """
    stem, here = _stem(csv_path), posixpath.dirname(csv_path)
    for parent in (here, root, image_dir):
        folder = posixpath.join(parent, stem)
        if tf.io.gfile.isdir(folder) and _list_images(folder, recursive=False):
            return folder
    return here if _list_images(here, recursive=False) else image_dir


def _frame_number(text: str) -> int | None:
    """OpenFace's 1-based frame number ("7" or "7.0"), or None for anything else (x, nan, 1.5)."""
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _map_table(table: OpenFaceTable, csv_path: str, lookup: _ImageLookup,
               image_dir: str, root: str, collected: _Collected) -> None:
    """Assigns each row of one OpenFace CSV to its image (see docs/data.md for the rules)."""
    name_column = next((c for c in NAME_COLUMNS if c in table.columns), None)
    per_image = lookup.same_stem(csv_path)
    if name_column is not None:
        for row in table.rows:
            path = lookup.find(row.fields[name_column])
            if path is None:
                collected.report.aus_without_images.append(
                    f"{csv_path}:{row.line} ({row.fields[name_column]})")
            else:
                collected.add(path, row.aus, row.confidence)
    elif per_image is not None:
        for row in table.rows:
            collected.add(per_image, row.aus, row.confidence)
    elif "frame" in table.columns:
        frames = _list_images(_frame_folder(csv_path, image_dir, root), recursive=False)
        for row in table.rows:
            number = _frame_number(row.fields["frame"])
            if number is None:
                collected.report.skipped_rows.append(SkippedRow(
                    f"{csv_path}:{row.line}", f"frame={row.fields['frame']!r} is not a frame "
                    "number"))
            elif 1 <= number <= len(frames):
                collected.add(frames[number - 1], row.aus, row.confidence)
            else:
                collected.report.aus_without_images.append(
                    f"{csv_path}:{row.line} (frame {number} of {len(frames)} images)")
    elif table.rows:
        collected.report.notes.append(
            f"ignored {csv_path}: cannot tell which image its rows belong to (no "
            f"{'/'.join(NAME_COLUMNS)} column, no image named {_stem(csv_path)}.*, "
            "no frame column)")


def read_openface(root: str, min_confidence: float = 0.0) -> tuple[_Collected, list[str]]:
    """Reads images plus OpenFace CSVs under `root`.

    Images are taken from `root/imgs/` when it exists, else from `root` (recursively).
    Every other `*.csv` under `root` is an OpenFace output: per folder (rows named by a
    `filename`/`input` column, or numbered by `frame` in sorted image order) or per
    image (same stem as the image, beside it or anywhere under root).

    Args:
        root: the dataset folder.
        min_confidence: rows below this OpenFace confidence are skipped.

    Returns:
        The collected labels and every image file found (for "image without AU row").
    """
    _check_folder(root, "openface")
    image_dir = _image_dir(root)
    images = _list_images(image_dir)
    lookup = _ImageLookup(images, image_dir)
    collected = _Collected()
    split_files = set(SPLIT_FILES.values())
    csv_files = _walk_files(root, lambda n: n.lower().endswith(".csv") and n not in split_files)
    if not csv_files:
        raise DatasetError(f"openface: no OpenFace CSV under {root}. Run OpenFace "
                           "FeatureExtraction/FaceLandmarkImg with -aus, or use "
                           "--format manifest/ganimation.")
    for csv_path in csv_files:
        table = _read_table(csv_path, collected, min_confidence)
        if table is not None:
            _map_table(table, csv_path, lookup, image_dir, root, collected)
    return collected, images


# ----------------------------------------------------------------------------- GANimation


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles dicts, strings, numbers and NumPy arrays, and nothing else.

    `find_class` is the only way a pickle can reach code; it resolves just the globals
    NumPy needs to rebuild arrays and scalars (protocols 0–5), so a pickle that names
    anything else (`os.system`, `builtins.eval`, ...) is refused before it can run.
    """

    _ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # how Python 3 writes bytes at protocols 0-2
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to unpickle global '{module}.{name}': aus_openface.pkl may only "
                "hold a dict of image id → NumPy float array (allowed globals: "
                f"{', '.join(sorted(f'{m}.{n}' for m, n in self._ALLOWED))})."
            )
        module = module.replace("numpy.core.", "numpy._core.")
        return super().find_class(module, name)


def load_aus_pickle(path: str) -> dict[str, np.ndarray]:
    """Reads GANimation's `aus_openface.pkl` safely.

    Args:
        path: the pickle (local or gs://).

    Returns:
        image id → (17,) float64 intensities on OpenFace's 0–5 scale, unchecked.

    Raises:
        DatasetError: the pickle is corrupt, names a forbidden global, or is not a dict of
            17-vectors.
    """
    with tf.io.gfile.GFile(path, "rb") as handle:
        data = handle.read()
    try:
        loaded = RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as error:
        raise DatasetError(f"{path}: {error}") from None
    except Exception as error:  # corrupt bytes can fail anywhere in pickle's or NumPy's code
        raise DatasetError(f"{path}: not a readable pickle ({type(error).__name__}: "
                           f"{error}).") from None
    if not isinstance(loaded, dict):
        raise DatasetError(f"{path}: expected a dict of image id → 17 AU intensities. "
                           f"Received a {type(loaded).__name__}.")
    return {_pickle_key(path, key): _pickle_aus(path, key, value)
            for key, value in loaded.items()}


def _pickle_key(path: str, key: Any) -> str:
    """GANimation's image ids are str, or bytes from Python 2 pickles."""
    if not isinstance(key, bytes):
        return str(key)
    try:
        return key.decode()
    except UnicodeDecodeError:
        raise DatasetError(f"{path}[{key!r}]: the image id is not UTF-8.") from None


def _pickle_aus(path: str, key: Any, value: Any) -> np.ndarray:
    """One pickle value as (17,) float64; lists and tuples are taken as well as arrays."""
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested lists
        raise DatasetError(f"{path}[{key!r}]: expected {NUM_AUS} AU intensities. Received "
                           f"a ragged {type(value).__name__}.") from None
    if array.dtype.kind not in "fiu" or array.shape != (NUM_AUS,):
        raise DatasetError(f"{path}[{key!r}]: expected {NUM_AUS} AU intensities. "
                           f"Received {array.dtype} array of shape {array.shape}.")
    return array.astype(np.float64)


def _intensity_problems(values: np.ndarray) -> list[str]:
    problems = (intensity_problem(code, float(value)) for code, value in zip(AU_CODES, values))
    return [problem for problem in problems if problem]


def read_ganimation(root: str) -> tuple[_Collected, list[str]]:
    """Reads GANimation's layout: `imgs/<id>.<ext>` and `aus_openface.pkl` (id → 0–5).

    Args:
        root: the dataset folder.

    Returns:
        The collected labels and every image file found.
    """
    _check_folder(root, "ganimation")
    pickle_path = posixpath.join(root, "aus_openface.pkl")
    if not tf.io.gfile.exists(pickle_path):
        raise DatasetError(f"ganimation: {pickle_path} not found (GANimation's layout is "
                           "imgs/, aus_openface.pkl, train_ids.csv, test_ids.csv).")
    image_dir = _image_dir(root)
    images = _list_images(image_dir)
    lookup = _ImageLookup(images, image_dir)
    collected = _Collected()
    for key, values in load_aus_pickle(pickle_path).items():
        problems = _intensity_problems(values)
        path = lookup.find(key)
        if problems:
            collected.report.skipped_rows.append(
                SkippedRow(f"{pickle_path}[{key!r}]", "; ".join(problems)))
        elif path is None:
            collected.report.aus_without_images.append(f"{pickle_path}[{key!r}]")
        else:
            collected.add(path, (values / OPENFACE_MAX_INTENSITY).astype(np.float32))
    return collected, images


# ----------------------------------------------------------------------------- manifest


def read_manifest(manifest: str) -> tuple[_Collected, list[str]]:
    """Reads a CSV manifest `path,AU01,...,AU45`.

    Paths are relative to the manifest's folder (absolute paths and URLs are kept);
    AU values are on OpenFace's 0–5 scale, like OpenFace's `AUxx_r` columns.

    Args:
        manifest: the CSV file.

    Returns:
        The collected labels; the image list is empty (a manifest lists its images).
    """
    if not tf.io.gfile.exists(manifest) or tf.io.gfile.isdir(manifest):
        raise DatasetError(f"manifest: CSV file not found: {manifest}")
    collected = _Collected()
    try:
        table = read_openface_csv(io.StringIO(_read_text(manifest)), manifest, suffix="")
    except OpenFaceFormatError as error:
        raise DatasetError(f"{error} A manifest needs the header path,"
                           f"{','.join(AU_CODES)}.") from None
    if "path" not in table.columns:
        raise DatasetError(f"{manifest}: missing column 'path'. A manifest needs the header "
                           f"path,{','.join(AU_CODES)}.")
    collected.skip_table_rows(table)
    base = posixpath.dirname(manifest)
    for row in table.rows:
        name = row.fields["path"]
        path = name if "://" in name or posixpath.isabs(name) else posixpath.join(base, name)
        if tf.io.gfile.exists(path):
            collected.add(path, row.aus)
        else:
            collected.report.aus_without_images.append(f"{manifest}:{row.line} ({name})")
    return collected, []


# ----------------------------------------------------------------------------- splits


def _read_ids(path: str) -> set[str]:
    return {_stem(line.strip()) for line in _read_text(path).splitlines() if line.strip()}


def _split_filter(root: str, split: str, report: ReadReport) -> Callable[[str], bool]:
    """Which images belong to `split`, from GANimation-style `train_ids.csv`/`test_ids.csv`.

    Without either file every split is the whole dataset; with only one, the other
    split is the rest.
    """
    if split == "all":
        return lambda path: True
    files = {name: posixpath.join(root, f) for name, f in SPLIT_FILES.items()}
    present = {name: p for name, p in files.items() if tf.io.gfile.exists(p)}
    if not present:
        report.notes.append(f"no {' or '.join(SPLIT_FILES.values())} in {root}: split "
                            f"'{split}' is the whole dataset")
        return lambda path: True
    if split in present:
        ids = _read_ids(present[split])
        return lambda path: _stem(path) in ids
    other = _read_ids(next(iter(present.values())))
    report.notes.append(f"no {SPLIT_FILES[split]} in {root}: split '{split}' is every "
                        f"image not listed in {next(iter(present.values()))}")
    return lambda path: _stem(path) not in other


def available_splits(path: str, format: str) -> tuple[str, ...]:
    """The splits `read_dataset` can tell apart, so that callers never mix them.

    ("train", "test") when the dataset has train_ids.csv or test_ids.csv; for a TFRecord
    folder, those of "train" and "test" that have shards; else ("all",) (a TFRecord glob
    is read as given, whatever the split).
    """
    if format == "tfrecord":
        if not tf.io.gfile.isdir(path):
            return ("all",)
        present = tuple(split for split in SPLIT_FILES
                        if tf.io.gfile.glob(posixpath.join(path, f"{split}-*.tfrecord")))
        return present or ("all",)
    root = posixpath.dirname(path) if format == "manifest" else path
    if any(tf.io.gfile.exists(posixpath.join(root, f)) for f in SPLIT_FILES.values()):
        return ("train", "test")
    return ("all",)


# ----------------------------------------------------------------------------- entry point


def _finish(collected: _Collected, images: Iterable[str], root: str, split: str,
            validate: bool) -> DatasetIndex:
    report = collected.report
    report.images_without_aus += sorted(set(images) - set(collected.aus))
    in_split = _split_filter(root, split, report)
    paths = sorted(path for path in collected.aus if in_split(path))
    if validate:
        report.bad_images += find_undecodable(paths)
        bad = {path for path, _ in report.bad_images}
        paths = [path for path in paths if path not in bad]
    aus = np.stack([collected.aus[p] for p in paths]) if paths else np.zeros((0, NUM_AUS))
    return DatasetIndex(paths=paths, aus=aus.astype(np.float32), report=report, root=root)


def _read_tfrecord(path: str, split: str) -> DatasetIndex:
    shards = find_shards(path, split)
    if not shards:
        raise DatasetError(f"tfrecord: no {split}-*.tfrecord or all-*.tfrecord in {path} "
                           "(nor a file matching it as a glob). Write them with "
                           "`defgan-data tfrecord --in DATASET --out FOLDER`.")
    try:
        num_records = count_records(shards)
    except ValueError as error:
        raise DatasetError(f"tfrecord: {error}. Point data.path at the folder "
                           "`defgan-data tfrecord` wrote, or a glob of its shards.") from None
    return DatasetIndex(paths=[], aus=np.zeros((0, NUM_AUS), np.float32), root=path,
                        shards=shards, num_records=num_records)


def read_dataset(source: str | DataConfig, format: str | None = None, split: str = "train",
                 *, min_confidence: float | None = None, strict: bool | None = None,
                 validate: bool = True) -> DatasetIndex:
    """Reads a labelled face dataset into an index (the `data.*` config in one call).

    Args:
        source: dataset folder (openface, ganimation, synthetic), CSV file (manifest),
            TFRecord folder or glob (tfrecord), or a DataConfig supplying `path` and the
            defaults of the arguments below.
        format: openface | ganimation | manifest | synthetic (an OpenFace folder written
            by `defgan_tf.data.synthetic`) | tfrecord; None = from the DataConfig.
        split: train | test | all, from `train_ids.csv` / `test_ids.csv` when present.
        min_confidence: skip OpenFace rows below this confidence (default 0).
        strict: a bad AU row is a DatasetError instead of skipped and reported.
        validate: decode every image once and leave out those that fail (recommended;
            costs one decode pass, see images.find_undecodable).

    Returns:
        A DatasetIndex (possibly empty: make_dataset turns that into an error).

    Raises:
        DatasetError: unknown format/split, missing folder or files, a forbidden pickle,
            or (strict) bad AU rows.
    """
    if isinstance(source, DataConfig):
        if source.path is None:
            raise DatasetError(f"data.path is not set (data.format={source.format}).")
        format = format or source.format
        min_confidence = source.min_confidence if min_confidence is None else min_confidence
        strict = source.strict if strict is None else strict
        source = source.path
    format = format or "openface"
    if format not in DATA_FORMATS:
        raise DatasetError(f"unknown dataset format {format!r}."
                           f"{did_you_mean(format, DATA_FORMATS)} "
                           f"Valid: {', '.join(DATA_FORMATS)}.")
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}. Valid: {', '.join(SPLITS)}.")
    path = source.rstrip("/") if len(source) > 1 else source
    if format == "tfrecord":
        return _read_tfrecord(path, split)
    if format == "ganimation":
        collected, images = read_ganimation(path)
    elif format == "manifest":
        collected, images = read_manifest(path)
    else:
        collected, images = read_openface(path, min_confidence or 0.0)
    rows = [row for row in collected.report.skipped_rows if row.bad]
    if strict and rows:
        raise DatasetError(
            f"{len(rows)} bad AU row(s) in {path} (strict mode; drop strict to skip them):\n"
            + "\n".join(f"  {r.where}: {r.reason}" for r in rows[:20])
        )
    root = posixpath.dirname(path) if format == "manifest" else path
    return _finish(collected, images, root, split, validate)
