"""The 17 facial action units (AUs) DefGAN is conditioned on: order, names, parsing, presets.

Everything that turns a human's words ("AU12=0.8", "happy", an OpenFace CSV) into the
(17,) float32 conditioning vector lives here, so the trainer, the editor and the data
readers agree on one vocabulary. Vectors are OpenFace intensities / 5, in [0, 1].
"""

from __future__ import annotations

import csv
import difflib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

# DESIGN.md §1: the order of the conditioning vector everywhere (models, files, exports).
AU_CODES: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45",
)
NUM_AUS = len(AU_CODES)

# FACS names, in AU_CODES order.
AU_FACS_NAMES: tuple[str, ...] = (
    "inner_brow_raiser", "outer_brow_raiser", "brow_lowerer", "upper_lid_raiser",
    "cheek_raiser", "lid_tightener", "nose_wrinkler", "upper_lip_raiser",
    "lip_corner_puller", "dimpler", "lip_corner_depressor", "chin_raiser",
    "lip_stretcher", "lip_tightener", "lips_part", "jaw_drop", "blink",
)

OPENFACE_MAX_INTENSITY = 5.0
"""OpenFace's AU intensities (`AUxx_r`) run 0–5; DefGAN's vectors are intensity / 5."""


class UnknownAUError(ValueError):
    """An action-unit name that is none of the 17 (the message lists them, closest first)."""


class UnknownExpressionError(ValueError):
    """An expression name that is not a known preset (the message lists the presets)."""


class OpenFaceFormatError(ValueError):
    """A CSV that lacks OpenFace's AU intensity columns (`missing` names them)."""

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


_LOOKUP: dict[str, int] = {code.lower(): i for i, code in enumerate(AU_CODES)}
_LOOKUP.update({facs: i for i, facs in enumerate(AU_FACS_NAMES)})


def _did_you_mean(word: str, candidates: dict[str, str]) -> str:
    """' Did you mean X?' for the closest of `candidates` (normalised form → shown form)."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.5)
    return f" Did you mean {candidates[close[0]]}?" if close else ""


def au_index(name: str | int) -> int:
    """The position of an action unit in AU_CODES.

    Args:
        name: `AU12`, `au12`, `AU 12`, `AU-12`, `12`, `AU12_r` / `AU12_c` (OpenFace
            columns) or the FACS name `lip_corner_puller` (case, spaces and hyphens do
            not matter).

    Returns:
        Index in [0, 17).

    Raises:
        UnknownAUError: naming the valid AUs and the closest match.
    """
    key = _normalise(str(name))
    if key.endswith(("_r", "_c")):
        key = key[:-2]
    if key in _LOOKUP:
        return _LOOKUP[key]
    digits = key[2:].lstrip("_") if key.startswith("au") else key
    if digits.isdigit() and f"au{int(digits):02d}" in _LOOKUP:
        return _LOOKUP[f"au{int(digits):02d}"]
    shown = [f"{code} ({facs})" for code, facs in zip(AU_CODES, AU_FACS_NAMES)]
    numbers = [int(code[2:]) for code in AU_CODES]
    number = re.search(r"\d+", key)
    if digits.isdigit():  # a number that is not one of ours: suggest the nearest number(s)
        gap = min(abs(n - int(digits)) for n in numbers)
        hint = " or ".join(s for s, n in zip(shown, numbers) if abs(n - int(digits)) == gap)
        suggestion = f" Did you mean {hint}?"
    elif number and int(number.group()) in numbers:  # AU12.0, A12, AU45r: the number in it
        suggestion = f" Did you mean {shown[numbers.index(int(number.group()))]}?"
    else:
        suggestion = _did_you_mean(key, dict(zip(AU_FACS_NAMES, shown)))
    raise UnknownAUError(
        f"Unknown action unit {str(name)!r}. Valid: {', '.join(AU_CODES)} "
        f"(also written au12, 12, AU12_r or as the FACS name, e.g. lip_corner_puller)."
        f"{suggestion}"
    )


def check_intensities(aus: np.ndarray, clip: bool = False, what: str = "AU intensities"
                      ) -> np.ndarray:
    """Rejects (or clips) intensities outside [0, 1].

    Args:
        aus: (..., 17) AU vector(s).
        clip: clip into [0, 1] instead of raising.
        what: how the error message names the values.

    Returns:
        float32 array of the same shape, in [0, 1].

    Raises:
        ValueError: a value is NaN or outside [0, 1] and clip is False.
    """
    aus = np.asarray(aus, dtype=np.float32)
    if aus.shape[-1:] != (NUM_AUS,):
        raise ValueError(f"{what} must have {NUM_AUS} values (one per AU). "
                         f"Received shape {aus.shape}.")
    if np.isnan(aus).any():
        raise ValueError(f"{what} contain NaN.")
    if clip:
        return np.clip(aus, 0.0, 1.0)
    bad = np.argwhere((aus < 0.0) | (aus > 1.0))
    if len(bad):
        where = tuple(bad[0])
        raise ValueError(
            f"{what}: {AU_CODES[where[-1]]}={float(aus[where]):g} is outside [0, 1] "
            "(DefGAN uses OpenFace intensity / 5). Pass clip=True to clip instead."
        )
    return aus


def parse_aus(text: str, base: np.ndarray | None = None, clip: bool = False) -> np.ndarray:
    """Parses "AU12=0.8,AU06=0.5" into an AU vector.

    Args:
        text: comma-separated NAME=VALUE items; names as au_index accepts them.
        base: (17,) vector the items overwrite; None starts from zeros (neutral).
        clip: clip values into [0, 1] instead of rejecting them.

    Returns:
        (17,) float32 in [0, 1].

    Raises:
        UnknownAUError: an unknown AU name.
        ValueError: a malformed item, a repeated AU or a value outside [0, 1].
    """
    aus = np.zeros(NUM_AUS, np.float32) if base is None else check_intensities(base, clip).copy()
    seen: set[int] = set()
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"Expected NAME=VALUE items separated by commas, e.g. "
                             f"'AU12=0.8,AU06=0.5'. Received: {item!r}")
        index = au_index(name)
        if index in seen:
            raise ValueError(f"{AU_CODES[index]} is given twice in {text!r}.")
        seen.add(index)
        try:
            aus[index] = float(value)
        except ValueError:
            raise ValueError(f"{AU_CODES[index]}: {value.strip()!r} is not a number.") from None
    return check_intensities(aus, clip, what=f"AU intensities in {text!r}")


def _vector(values: dict[str, float]) -> np.ndarray:
    aus = np.zeros(NUM_AUS, np.float32)
    for name, value in values.items():
        aus[au_index(name)] = value
    aus.setflags(write=False)
    return aus


# DESIGN.md §5: EMFACS prototypes. Main AUs 0.7–1.0, the bracketed optional ones weaker;
# contempt (one-sided in FACS) is bilateral because the vector has no side.
PRESETS: dict[str, np.ndarray] = {
    "neutral": _vector({}),
    "happy": _vector({"AU06": 0.8, "AU12": 1.0, "AU25": 0.4}),
    "sad": _vector({"AU01": 0.8, "AU04": 0.7, "AU15": 0.8, "AU17": 0.4}),
    "surprise": _vector({"AU01": 0.9, "AU02": 0.9, "AU05": 0.8, "AU26": 0.8}),
    "fear": _vector({"AU01": 0.8, "AU02": 0.7, "AU04": 0.7, "AU05": 0.8, "AU07": 0.7,
                     "AU20": 0.8, "AU26": 0.7}),
    "anger": _vector({"AU04": 1.0, "AU05": 0.7, "AU07": 0.8, "AU23": 0.8}),
    "disgust": _vector({"AU09": 0.9, "AU10": 0.8, "AU15": 0.7, "AU17": 0.7}),
    "contempt": _vector({"AU12": 0.7, "AU14": 0.8}),
}
"""Built-in expressions → (17,) float32 in [0, 1] (read-only; get_expression copies)."""


def get_expression(name: str, presets: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The AU vector of a named expression.

    Args:
        name: a preset name (case-insensitive), e.g. "happy".
        presets: the table to look in; None = the built-in PRESETS.

    Returns:
        A writable (17,) float32 copy in [0, 1].

    Raises:
        UnknownExpressionError: listing the valid names and the closest match.
    """
    table = PRESETS if presets is None else presets
    key = _normalise(name)
    if key not in table:
        raise UnknownExpressionError(
            f"Unknown expression {name!r}. Valid: {', '.join(sorted(table))}."
            f"{_did_you_mean(key, {k: k for k in table})}"
        )
    return np.array(table[key], dtype=np.float32)


def _preset_error(path: str, detail: str) -> ValueError:
    return ValueError(f"{path}: {detail}")


def _checked_preset(path: str, name: str, values: dict[str, float]) -> np.ndarray:
    try:
        aus = _vector({au: float(v) for au, v in values.items()})
        return check_intensities(aus, what=f"expression {name!r}")
    except (UnknownAUError, ValueError, TypeError) as error:
        raise _preset_error(path, str(error)) from None


def _read_presets_yaml(path: Path) -> dict[str, np.ndarray]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise _preset_error(str(path), f"not a readable YAML file ({error})") from None
    if not isinstance(data, dict):
        raise _preset_error(str(path), "a presets YAML must map expression names to "
                            "{AU: intensity} mappings, e.g. happy: {AU06: 0.8, AU12: 1.0}.")
    table = {}
    for name, values in data.items():
        if not isinstance(values, dict):
            raise _preset_error(str(path), f"expression {name!r} must be a mapping "
                                f"{{AU: intensity}}. Received: {values!r}")
        table[_normalise(str(name))] = _checked_preset(str(path), str(name), values)
    return table


def _not_utf8(error: UnicodeDecodeError) -> str:
    return f"not a UTF-8 text file ({error.reason} at byte {error.start})"


def _read_presets_csv(path: Path) -> dict[str, np.ndarray]:
    try:
        return _read_presets_rows(path)
    except UnicodeDecodeError as error:
        raise _preset_error(str(path), _not_utf8(error)) from None
    except csv.Error as error:  # e.g. a field over csv's size limit: not a presets table
        raise _preset_error(str(path), f"not a readable CSV ({error})") from None


def _read_presets_rows(path: Path) -> dict[str, np.ndarray]:
    # utf-8-sig: spreadsheets save "CSV UTF-8" with a byte-order mark before `name`
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, skipinitialspace=True)
        fields = [f.strip() for f in reader.fieldnames or []]
        if not fields or fields[0].lower() != "name":
            raise _preset_error(str(path), "a presets CSV needs a header 'name,AU01,AU02,...'. "
                                f"Received header: {','.join(fields)}")
        table = {}
        for row in reader:
            row = {k.strip(): v for k, v in row.items() if k is not None}
            name = row.pop(fields[0])
            where = f"{path}:{reader.line_num}"
            values = {au: v for au, v in row.items() if v not in (None, "")}
            table[_normalise(name)] = _checked_preset(where, name, values)
    return table


def load_presets(path: str | Path, replace: bool = False) -> dict[str, np.ndarray]:
    """Reads user expression presets (the `--presets FILE` option).

    YAML: `happy: {AU06: 0.8, AU12: 1.0}`. CSV: header `name,AU01,AU02,...` (any subset
    of AU columns), one expression per row. Intensities in [0, 1]; unlisted AUs are 0.

    Args:
        path: a .yaml/.yml or .csv file.
        replace: return only the file's presets instead of extending the built-in ones
            (a file entry with a built-in name overrides it either way).

    Returns:
        Expression name (lower case) → (17,) float32.

    Raises:
        ValueError: naming the file (and line for CSV), the expression and the bad value.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"presets file not found: {path}")
    if path.suffix.lower() in (".yaml", ".yml"):
        table = _read_presets_yaml(path)
    elif path.suffix.lower() == ".csv":
        table = _read_presets_csv(path)
    else:
        raise ValueError(f"{path}: presets must be a .yaml, .yml or .csv file. "
                         f"Received suffix {path.suffix!r}.")
    return table if replace else {**PRESETS, **table}


# ----------------------------------------------------------------------------- OpenFace CSVs


@dataclass
class OpenFaceRow:
    """One usable row of an OpenFace CSV.

    Attributes:
        line: 1-based line in the file (the header is line 1).
        fields: every column by its stripped name, values as text.
        confidence: OpenFace's tracking confidence (1.0 when the column is absent).
        aus: (17,) float32 in [0, 1] = AUxx_r / 5.
    """

    line: int
    fields: dict[str, str]
    confidence: float
    aus: np.ndarray


@dataclass
class OpenFaceTable:
    """The rows of one OpenFace CSV: usable ones, and (line, reason) for the others.

    `untracked` rows are OpenFace saying it found no (confident) face — normal in video
    output; `bad` rows hold values no OpenFace run produces (a broken file, which
    strict readers refuse).
    """

    source: str
    columns: list[str]
    rows: list[OpenFaceRow] = field(default_factory=list)
    untracked: list[tuple[int, str]] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)


def _untracked(conf: float, success: float, min_confidence: float) -> list[str]:
    reasons = []
    if success == 0:
        reasons.append("success=0 (OpenFace found no face)")
    if math.isnan(conf) or conf < min_confidence:
        reasons.append(f"confidence={conf:g} < min_confidence={min_confidence:g}")
    return reasons


def _bad_values(values: list[str], columns: list[int], suffix: str) -> list[str]:
    problems = []
    for code, column in zip(AU_CODES, columns):
        text = values[column].strip()
        try:
            value = float(text)
        except ValueError:
            problems.append(f"{code}{suffix}={text!r} is not a number")
            continue
        problem = intensity_problem(f"{code}{suffix}", value)
        if problem:
            problems.append(problem)
    return problems


def intensity_problem(label: str, value: float) -> str | None:
    """Why an OpenFace intensity (0–5) is unusable — NaN, negative, above 5 — or None."""
    if math.isnan(value):
        return f"{label} is NaN"
    if value < 0:
        return f"{label}={value:g} is negative"
    if value > OPENFACE_MAX_INTENSITY:
        return f"{label}={value:g} is above {OPENFACE_MAX_INTENSITY:g}"
    return None


def _number(values: list[str], column: int | None, default: float) -> float:
    if column is None:
        return default
    try:
        return float(values[column])
    except ValueError:
        return math.nan


def read_openface_csv(lines: Iterable[str], source: str, min_confidence: float = 0.0,
                      suffix: str = "_r") -> OpenFaceTable:
    """Parses OpenFace FeatureExtraction / FaceLandmarkImg output.

    Column names are matched after stripping (OpenFace writes `frame, face_id, ...`
    with a leading space). Rows with `success` 0, `confidence` below
    `min_confidence` (`untracked`), or an `AUxx_r` that is not a number, NaN,
    negative or above 5 (`bad`) are set aside with their line and reason.

    Args:
        lines: the file's lines (an open text file works).
        source: the file name used in messages.
        min_confidence: rows below this tracking confidence are skipped.
        suffix: the AU columns are `AU01{suffix}`...; "" reads DefGAN's CSV manifests,
            which use OpenFace's 0–5 scale under plain `AU01` names.

    Returns:
        An OpenFaceTable; rows' `aus` are intensity / 5 in [0, 1].

    Raises:
        OpenFaceFormatError: the header lacks one of the 17 AU columns (`missing` names
            them), or the text is not a readable CSV (`missing` is empty).
    """
    reader = csv.reader(lines)
    try:
        return _openface_table(reader, source, min_confidence, suffix)
    except csv.Error as error:  # e.g. a field over csv's size limit: a broken file
        raise OpenFaceFormatError(f"{source}: line {reader.line_num}: not a readable CSV "
                                  f"({error}).", []) from None


def read_openface_file(path: str | Path, min_confidence: float = 0.0,
                       suffix: str = "_r") -> OpenFaceTable:
    """`read_openface_csv` on a local file, read as UTF-8 (a byte-order mark allowed).

    Raises:
        OpenFaceFormatError: the file is not UTF-8 text, not a CSV, or lacks AU columns.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return read_openface_csv(handle, str(path), min_confidence, suffix)
    except UnicodeDecodeError as error:
        raise OpenFaceFormatError(f"{path}: {_not_utf8(error)}.", []) from None


def _openface_table(reader, source: str, min_confidence: float, suffix: str
                    ) -> OpenFaceTable:
    header = [name.strip() for name in next(reader, [])]
    position = {name: i for i, name in enumerate(header)}
    missing = [code + suffix for code in AU_CODES if code + suffix not in position]
    if missing:
        raise OpenFaceFormatError(
            f"{source}: missing AU column(s) {', '.join(missing)} "
            f"(found: {', '.join(header[:8])}{', ...' if len(header) > 8 else ''}).",
            missing,
        )
    au_columns = [position[code + suffix] for code in AU_CODES]
    table = OpenFaceTable(source=source, columns=header)
    for values in reader:
        if not values or not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            table.bad.append((reader.line_num, f"has {len(values)} fields, "
                              f"the header has {len(header)}"))
            continue
        conf = _number(values, position.get("confidence"), 1.0)
        success = _number(values, position.get("success"), 1.0)
        untracked = _untracked(conf, success, min_confidence)
        bad = _bad_values(values, au_columns, suffix)
        if bad:
            table.bad.append((reader.line_num, "; ".join(untracked + bad)))
            continue
        if untracked:
            table.untracked.append((reader.line_num, "; ".join(untracked)))
            continue
        aus = np.array([float(values[c]) for c in au_columns], np.float32)
        table.rows.append(OpenFaceRow(
            line=reader.line_num,
            fields={name: values[i].strip() for i, name in enumerate(header)},
            confidence=conf,
            aus=aus / OPENFACE_MAX_INTENSITY,
        ))
    return table


def presets_from_openface(csv_files: Sequence[str | Path], labels: Sequence[str],
                          min_confidence: float = 0.0) -> dict[str, np.ndarray]:
    """Expression presets as the paper made them: mean OpenFace AUs per labelled file.

    The paper averaged OpenFace on MUG's peak frames; run OpenFace on your own
    labelled faces and pass each CSV with its expression name.

    Args:
        csv_files: OpenFace CSVs.
        labels: the expression of each CSV (same length); files sharing a label pool
            their rows.
        min_confidence: rows below this tracking confidence are left out.

    Returns:
        Expression name (lower case) → (17,) float32 mean of intensity / 5, in [0, 1].

    Raises:
        ValueError: mismatched lengths, or a label without a usable row.
    """
    if len(csv_files) != len(labels):
        raise ValueError(f"presets_from_openface needs one label per CSV file. Received "
                         f"{len(csv_files)} files and {len(labels)} labels.")
    pooled: dict[str, list[np.ndarray]] = {}
    for path, label in zip(csv_files, labels):
        table = read_openface_file(path, min_confidence)
        pooled.setdefault(_normalise(label), []).extend(row.aus for row in table.rows)
    empty = [label for label, rows in pooled.items() if not rows]
    if empty:
        raise ValueError(f"no usable OpenFace row for expression(s) {', '.join(empty)} "
                         "(all rows had success=0, low confidence or bad AU values).")
    return {label: np.mean(rows, axis=0).astype(np.float32) for label, rows in pooled.items()}
