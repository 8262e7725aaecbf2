"""AU names, parsing, expression presets and OpenFace-derived presets."""

from __future__ import annotations

import io

import numpy as np
import pytest

from defgan_tf.aus import (
    AU_CODES,
    PRESETS,
    OpenFaceFormatError,
    UnknownAUError,
    UnknownExpressionError,
    au_index,
    get_expression,
    load_presets,
    parse_aus,
    presets_from_openface,
    read_openface_csv,
)

VALID = ("Valid: AU01, AU02, AU04, AU05, AU06, AU07, AU09, AU10, AU12, AU14, AU15, AU17, "
         "AU20, AU23, AU25, AU26, AU45 (also written au12, 12, AU12_r or as the FACS name, "
         "e.g. lip_corner_puller).")


@pytest.mark.parametrize("name", ["AU12", "au12", "12", "AU12_r", "AU12_c", "AU 12", "AU-12",
                                  "lip_corner_puller", "Lip corner puller",
                                  " lip-corner-puller ", 12])
def test_au_index_accepts_every_spelling(name):
    assert au_index(name) == 8


def test_au_index_of_every_code_and_facs_name():
    assert [au_index(code) for code in AU_CODES] == list(range(17))
    assert au_index("AU1") == 0 and au_index("45") == 16 and au_index("blink") == 16


@pytest.mark.parametrize(("name", "hint"), [
    ("AU13", " Did you mean AU12 (lip_corner_puller) or AU14 (dimpler)?"),
    ("3", " Did you mean AU02 (outer_brow_raiser) or AU04 (brow_lowerer)?"),
    ("lip_corner_puler", " Did you mean AU12 (lip_corner_puller)?"),
    ("AU12.0", " Did you mean AU12 (lip_corner_puller)?"),
    ("A12", " Did you mean AU12 (lip_corner_puller)?"),
    ("AU45r", " Did you mean AU45 (blink)?"),
    ("frown", ""),
])
def test_unknown_au_lists_the_valid_ones_and_the_closest(name, hint):
    with pytest.raises(UnknownAUError) as error:
        au_index(name)
    assert str(error.value) == f"Unknown action unit {name!r}. {VALID}{hint}"
    assert isinstance(error.value, ValueError)


def test_parse_aus_sets_named_aus_over_zeros_or_a_base():
    aus = parse_aus("AU12=0.8, au06 = 0.5,lip_corner_depressor=0.25")
    expected = np.zeros(17, np.float32)
    expected[[8, 4, 10]] = [0.8, 0.5, 0.25]
    np.testing.assert_array_equal(aus, expected)
    assert aus.dtype == np.float32 and aus.shape == (17,)
    happy = PRESETS["happy"]
    edited = parse_aus("AU25=0", base=happy)
    assert edited[14] == 0 and edited[8] == happy[8]
    np.testing.assert_array_equal(parse_aus("", base=happy), happy)


def test_parse_aus_range_is_rejected_or_clipped():
    with pytest.raises(ValueError) as error:
        parse_aus("AU12=1.5")
    assert str(error.value) == (
        "AU intensities in 'AU12=1.5': AU12=1.5 is outside [0, 1] (DefGAN uses OpenFace "
        "intensity / 5). Pass clip=True to clip instead.")
    clipped = parse_aus("AU12=1.5,AU06=-0.2", clip=True)
    assert clipped[8] == 1.0 and clipped[4] == 0.0


@pytest.mark.parametrize(("text", "message"), [
    ("AU12", "Expected NAME=VALUE items separated by commas, e.g. 'AU12=0.8,AU06=0.5'. "
             "Received: 'AU12'"),
    ("AU12=big", "AU12: 'big' is not a number."),
    ("AU12=0.1,12=0.2", "AU12 is given twice in 'AU12=0.1,12=0.2'."),
])
def test_parse_aus_malformed_input(text, message):
    with pytest.raises(ValueError) as error:
        parse_aus(text)
    assert str(error.value) == message


def _active(vector) -> set[str]:
    return {code for code, value in zip(AU_CODES, vector) if value > 0}


def test_presets_follow_emfacs():
    assert _active(PRESETS["happy"]) == {"AU06", "AU12", "AU25"}
    assert _active(PRESETS["sad"]) == {"AU01", "AU04", "AU15", "AU17"}
    assert _active(PRESETS["surprise"]) == {"AU01", "AU02", "AU05", "AU26"}
    assert _active(PRESETS["fear"]) == {"AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU26"}
    assert _active(PRESETS["anger"]) == {"AU04", "AU05", "AU07", "AU23"}
    assert _active(PRESETS["disgust"]) == {"AU09", "AU10", "AU15", "AU17"}
    assert _active(PRESETS["contempt"]) == {"AU12", "AU14"}
    assert _active(PRESETS["neutral"]) == set()
    for vector in PRESETS.values():
        assert vector.dtype == np.float32 and vector.min() >= 0 and vector.max() <= 1
    # Optional (bracketed) AUs are weaker than the main ones.
    assert PRESETS["happy"][14] < min(PRESETS["happy"][[4, 8]])
    assert PRESETS["sad"][11] < min(PRESETS["sad"][[0, 2, 10]])


def test_get_expression_copies_and_names_the_closest_preset():
    happy = get_expression("Happy")
    happy[:] = 0
    assert PRESETS["happy"].max() == 1.0
    with pytest.raises(ValueError):
        PRESETS["happy"][0] = 1  # read-only
    with pytest.raises(UnknownExpressionError) as error:
        get_expression("hapy")
    assert str(error.value) == ("Unknown expression 'hapy'. Valid: anger, contempt, disgust, "
                                "fear, happy, neutral, sad, surprise. Did you mean happy?")


def test_load_presets_yaml_extends_or_replaces(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("smirk: {AU12: 0.4, lip_tightener: 0.3}\nHappy: {AU12: 0.5}\n")
    table = load_presets(path)
    assert set(table) == set(PRESETS) | {"smirk"}
    assert _active(table["smirk"]) == {"AU12", "AU23"} and table["smirk"][13] == np.float32(0.3)
    assert _active(table["happy"]) == {"AU12"}
    assert set(load_presets(path, replace=True)) == {"smirk", "happy"}
    np.testing.assert_array_equal(get_expression("smirk", table), table["smirk"])


def test_load_presets_csv(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("name, AU06, AU12\nbeam, 1.0, 1.0\nhalf, , 0.5\n")
    table = load_presets(path, replace=True)
    assert _active(table["beam"]) == {"AU06", "AU12"}
    assert _active(table["half"]) == {"AU12"}
    path.write_text("\ufeffname,AU06,AU12\nbeam,1.0,1.0\n", encoding="utf-8")  # Excel's
    assert _active(load_presets(path, replace=True)["beam"]) == {"AU06", "AU12"}


def test_load_presets_errors_name_the_file_line_and_value(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("name,AU12\nok,0.5\nloud,2\n")
    with pytest.raises(ValueError) as error:
        load_presets(csv)
    assert str(error.value) == (
        f"{csv}:3: expression 'loud': AU12=2 is outside [0, 1] (DefGAN uses OpenFace "
        "intensity / 5). Pass clip=True to clip instead.")
    yaml_file = tmp_path / "bad.yaml"
    yaml_file.write_text("grin: {AU99: 0.5}\n")
    with pytest.raises(ValueError, match=rf"^{yaml_file}: Unknown action unit 'AU99'"):
        load_presets(yaml_file)
    yaml_file.write_text("grin: 0.5\n")
    with pytest.raises(ValueError, match=r"expression 'grin' must be a mapping"):
        load_presets(yaml_file)
    yaml_file.write_text("grin: {AU12: [0.5\n")
    with pytest.raises(ValueError, match=rf"^{yaml_file}: not a readable YAML file \(while "
                       "parsing a flow"):
        load_presets(yaml_file)
    csv.write_bytes("name,AU12\nsourire,0.5\n".replace("o", "\xf4").encode("latin-1"))
    with pytest.raises(ValueError, match=rf"^{csv}: not a UTF-8 text file \(invalid "
                       r"continuation byte at byte 11\)"):
        load_presets(csv)
    csv.write_text("name,AU12\nwide," + "1" * 200_000 + "\n")
    with pytest.raises(ValueError, match=rf"^{csv}: not a readable CSV \(field larger than"):
        load_presets(csv)
    (tmp_path / "p.txt").write_text("x")
    with pytest.raises(ValueError, match=r"presets must be a \.yaml, \.yml or \.csv file"):
        load_presets(tmp_path / "p.txt")


def _openface_csv(rows: list[tuple[int, float, list[float]]]) -> str:
    header = ["frame", " face_id", " timestamp", " confidence", " success"]
    header += [f" {c}_r" for c in AU_CODES] + [f" {c}_c" for c in AU_CODES]
    lines = [",".join(header)]
    for success, confidence, values in rows:
        lines.append(", ".join(["1", "0", "0.0", str(confidence), str(success)]
                               + [str(v) for v in values] + ["0"] * 17))
    return "\n".join(lines) + "\n"


def test_presets_from_openface_average_per_label(tmp_path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    a.write_text(_openface_csv([(1, 0.9, [1.0] * 17), (0, 0.9, [5.0] * 17)]))
    b.write_text(_openface_csv([(1, 0.9, [3.0] * 17), (1, 0.2, [5.0] * 17)]))
    c.write_text(_openface_csv([(1, 0.9, [0.5] * 17)]))
    table = presets_from_openface([a, b, c], ["Happy", "happy", "sad"], min_confidence=0.5)
    np.testing.assert_allclose(table["happy"], np.full(17, 0.4))  # mean(1, 3) / 5
    np.testing.assert_allclose(table["sad"], np.full(17, 0.1))
    with pytest.raises(ValueError, match="one label per CSV file. Received 3 files and 1"):
        presets_from_openface([a, b, c], ["happy"])
    with pytest.raises(ValueError, match=r"no usable OpenFace row for expression\(s\) sad"):
        presets_from_openface([a], ["sad"], min_confidence=0.95)
    c.write_bytes(b"\xef\xbb\xbf" + c.read_bytes())  # a spreadsheet's byte-order mark
    np.testing.assert_allclose(presets_from_openface([c], ["sad"])["sad"], np.full(17, 0.1))
    c.write_bytes(b"\xff\xfe" + c.read_bytes())  # UTF-16
    with pytest.raises(OpenFaceFormatError, match=rf"^{c}: not a UTF-8 text file") as error:
        presets_from_openface([c], ["sad"])
    assert error.value.missing == []


def test_read_openface_csv_lines_and_reasons():
    text = _openface_csv([(1, 0.9, [1.0] * 17), (1, 0.9, ["nan"] + [1.0] * 16),
                          (1, 0.9, [1.0] * 16 + [9.0]), (1, 0.9, ["x"] + [1.0] * 16)])
    table = read_openface_csv(io.StringIO(text + "1, 2\n"), "f.csv")
    assert [row.line for row in table.rows] == [2]
    np.testing.assert_allclose(table.rows[0].aus, np.full(17, 0.2))
    assert table.bad == [(3, "AU01_r is NaN"), (4, "AU45_r=9 is above 5"),
                         (5, "AU01_r='x' is not a number"),
                         (6, "has 2 fields, the header has 39")]
