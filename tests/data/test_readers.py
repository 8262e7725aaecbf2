"""Readers on files the tests write: OpenFace folders, GANimation pickles, CSV manifests."""

from __future__ import annotations

import codecs
import os
import pickle

import numpy as np
import pytest
from PIL import Image

from defgan_tf.aus import AU_CODES
from defgan_tf.config import ConfigError, DataConfig
from defgan_tf.data.readers import (
    DatasetError,
    available_splits,
    load_aus_pickle,
    read_dataset,
)


def _paths(index) -> list[str]:
    return [os.path.basename(p) for p in index.paths]


# ----------------------------------------------------------------------------- OpenFace


def test_openface_folder_reads_synthetic_layout_and_splits(face_folder):
    train = read_dataset(str(face_folder.root), "openface", "train")
    test = read_dataset(str(face_folder.root), "synthetic", "test")
    both = read_dataset(str(face_folder.root), "openface", "all")
    assert _paths(train) == face_folder.names[:8]
    assert _paths(test) == face_folder.names[8:]
    assert len(both) == 12
    np.testing.assert_allclose(both.aus, face_folder.aus, atol=1e-6)
    assert both.aus.dtype == np.float32 and both.aus.shape == (12, 17)
    assert train.report.summary() == "nothing skipped"


def test_bad_rows_are_skipped_with_file_and_line(tmp_path, openface):
    folder = openface.folder(tmp_path, count=6, test_count=0)
    good = [1.0] * 17
    rows = [
        openface.row(["nan", *good[1:]], "face_000.png"),           # line 2
        openface.row([*good[:4], -0.3, *good[5:]], "face_001.png"),  # line 3
        openface.row([*good[:8], 5.2, *good[9:]], "face_002.png"),   # line 4
        openface.row(good, "face_003.png", success=0),              # line 5
        openface.row(good, "face_004.png", confidence=0.4),         # line 6
        openface.row(good, "face_005.png"),                         # line 7
        openface.row(good, "ghost.png"),                            # line 8
    ]
    csv = folder.csv()
    csv.write_text(openface.header() + "\n" + "\n".join(rows) + "\n")
    index = read_dataset(str(tmp_path), "openface", "all", min_confidence=0.5)
    report = index.report
    assert [(r.where, r.reason, r.bad) for r in report.skipped_rows] == [
        (f"{csv}:2", "AU01_r is NaN", True),
        (f"{csv}:3", "AU06_r=-0.3 is negative", True),
        (f"{csv}:4", "AU12_r=5.2 is above 5", True),
        (f"{csv}:5", "success=0 (OpenFace found no face)", False),
        (f"{csv}:6", "confidence=0.4 < min_confidence=0.5", False),
    ]
    assert _paths(index) == ["face_005.png"]
    np.testing.assert_allclose(index.aus, [np.full(17, 0.2)], atol=1e-6)
    assert report.aus_without_images == [f"{csv}:8 (ghost.png)"]
    assert [os.path.basename(p) for p in report.images_without_aus] == [
        f"face_00{i}.png" for i in range(5)]
    summary = report.summary()
    assert f"5 AU row(s) skipped:\n  {csv}:2: AU01_r is NaN" in summary
    assert "1 AU row(s) have no image:" in summary


def test_strict_makes_bad_rows_an_error_but_not_untracked_faces(tmp_path, openface):
    folder = openface.folder(tmp_path, count=2, test_count=0)
    rows = [openface.row([1.0] * 17, "face_000.png", success=0),
            openface.row([7.0] + [1.0] * 16, "face_001.png")]
    folder.csv().write_text(openface.header() + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(DatasetError) as error:
        read_dataset(str(tmp_path), "openface", "all", strict=True)
    assert str(error.value) == (
        f"1 bad AU row(s) in {tmp_path} (strict mode; drop strict to skip them):\n"
        f"  {folder.csv()}:3: AU01_r=7 is above 5")
    assert isinstance(error.value, ConfigError)


def test_per_image_csvs_in_a_csv_dir_keep_the_most_confident_face(tmp_path, openface):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "processed").mkdir()
    for name in ("a", "b"):
        Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / f"{name}.jpg")
    two_faces = [openface.row([1.0] * 17, confidence=0.6),
                 openface.row([2.5] * 17, confidence=0.9)]
    (tmp_path / "processed" / "a.csv").write_text(
        openface.header(None) + "\n" + "\n".join(two_faces) + "\n")
    (tmp_path / "processed" / "b.csv").write_text(
        openface.header(None) + "\n" + openface.row([5.0] * 17) + "\n")
    index = read_dataset(str(tmp_path), "openface", "all")
    assert _paths(index) == ["a.jpg", "b.jpg"]
    np.testing.assert_allclose(index.aus[:, 0], [0.5, 1.0])


def test_per_folder_csv_without_names_maps_frames_to_sorted_images(tmp_path, openface):
    (tmp_path / "clip").mkdir()
    for name in ("f10.png", "f02.png", "f05.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / "clip" / name)
    rows = [openface.row([float(k)] * 17, frame=k) for k in (1, 2, 3, 4)]
    (tmp_path / "out").mkdir()
    csv = tmp_path / "out" / "clip.csv"  # FeatureExtraction -fdir clip -out_dir out
    csv.write_text(openface.header(None) + "\n" + "\n".join(rows) + "\n")
    index = read_dataset(str(tmp_path), "openface", "all")
    assert _paths(index) == ["f02.png", "f05.png", "f10.png"]
    np.testing.assert_allclose(index.aus[:, 0], [0.2, 0.4, 0.6])
    assert index.report.aus_without_images == [f"{csv}:5 (frame 4 of 3 images)"]


def test_input_column_is_a_name_fallback_and_non_openface_csvs_are_noted(tmp_path, openface):
    folder = openface.folder(tmp_path, count=2, test_count=0)
    folder.csv().write_text(openface.header("input") + "\n" + openface.row(
        [2.0] * 17, "imgs/face_001.png") + "\n")
    (tmp_path / "notes.csv").write_text("subject,age\nx,3\n")
    index = read_dataset(str(tmp_path), "openface", "all")
    assert _paths(index) == ["face_001.png"]
    assert index.report.notes == [f"ignored {tmp_path}/notes.csv: not an OpenFace CSV"]
    (tmp_path / "notes.csv").write_text("AU01_r\n1\n")  # a broken OpenFace CSV
    assert read_dataset(str(tmp_path), "openface", "all").report.notes == [
        f"ignored {tmp_path}/notes.csv: missing AU column(s) AU02_r, AU04_r, AU05_r, AU06_r, "
        "AU07_r, AU09_r, AU10_r, AU12_r, AU14_r, AU15_r, AU17_r, AU20_r, AU23_r, AU25_r, "
        "AU26_r, AU45_r (found: AU01_r)."]


def test_corrupt_and_truncated_images_are_skipped_and_listed(face_folder):
    imgs = face_folder.root / "imgs"
    data = (imgs / "face_001.png").read_bytes()
    (imgs / "face_001.png").write_bytes(data[: len(data) // 2])
    (imgs / "face_002.png").write_bytes(b"not an image at all")
    noisy = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(imgs / "face_003.png", format="JPEG")  # named .png: fine
    jpeg = (imgs / "face_003.png").read_bytes()
    (imgs / "face_003.png").write_bytes(jpeg[: len(jpeg) // 3])
    index = read_dataset(str(face_folder.root), "openface", "train")
    assert _paths(index) == [face_folder.names[0], *face_folder.names[4:8]]
    reasons = [(os.path.basename(p), reason) for p, reason in index.report.bad_images]
    assert reasons[:2] == [
        ("face_001.png", f"Invalid PNG data, size {len(data) // 2}"),
        ("face_002.png", "Unknown image file format. One of JPEG, JPEG XL, PNG, GIF, BMP, "
                         "WebP required."),
    ]
    assert reasons[2][0] == "face_003.png"
    assert "3 image(s) could not be decoded and were skipped:" in index.report.summary()


def test_missing_folder_unknown_format_and_split_are_clear_errors(tmp_path, face_folder):
    with pytest.raises(DatasetError, match=r"openface: dataset folder not found: .*nowhere"):
        read_dataset(str(tmp_path / "nowhere"), "openface")
    with pytest.raises(DatasetError, match=r"unknown dataset format 'openfce'\. Did you mean "
                                           r"openface\? Valid: "
                                           r"synthetic, openface, ganimation, manifest, "
                                           r"tfrecord\."):
        read_dataset(str(face_folder.root), "openfce")
    with pytest.raises(DatasetError, match=r"unknown split 'val'\. Valid: train, test, all\."):
        read_dataset(str(face_folder.root), "openface", "val")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no OpenFace CSV under"):
        read_dataset(str(tmp_path / "empty"), "openface")


def test_split_rules_without_id_files_or_with_one(face_folder):
    (face_folder.root / "test_ids.csv").unlink()
    train = read_dataset(str(face_folder.root), "openface", "train")
    test = read_dataset(str(face_folder.root), "openface", "test")
    assert _paths(test) == face_folder.names[8:]
    assert "is every image not listed in" in test.report.notes[-1]
    assert len(train) == 8
    (face_folder.root / "train_ids.csv").unlink()
    assert available_splits(str(face_folder.root), "openface") == ("all",)
    whole = read_dataset(str(face_folder.root), "openface", "test")
    assert len(whole) == 12 and "is the whole dataset" in whole.report.notes[-1]


def test_tfrecord_splits_are_those_with_shards(tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    (records / "all-00000-of-00001.tfrecord").write_bytes(b"")
    assert available_splits(str(records), "tfrecord") == ("all",)
    for name in ("train-00000-of-00001.tfrecord", "test-00000-of-00001.tfrecord"):
        (records / name).write_bytes(b"")
        assert available_splits(str(records), "tfrecord") == ("train", "test")[
            : 1 + name.startswith("test")]
    assert available_splits(f"{records}/train-*", "tfrecord") == ("all",)


def test_read_dataset_takes_a_data_config(face_folder):
    config = DataConfig(format="openface", path=str(face_folder.root), min_confidence=0.99)
    index = read_dataset(config, split="all")
    assert len(index) == 0
    assert len(index.report.skipped_rows) == 12
    with pytest.raises(DatasetError, match=r"data\.path is not set"):
        read_dataset(DataConfig(format="openface"))


# ----------------------------------------------------------------------------- GANimation


def _ganimation(tmp_path, table, protocol=4):
    (tmp_path / "imgs").mkdir(exist_ok=True)
    for key in table:
        Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / "imgs" / f"{key}.jpg")
    with open(tmp_path / "aus_openface.pkl", "wb") as handle:
        pickle.dump(table, handle, protocol=protocol)
    (tmp_path / "train_ids.csv").write_text("N_0001.jpg\nN_0002.jpg\n")
    (tmp_path / "test_ids.csv").write_text("N_0003.jpg\n")


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_ganimation_layout_with_every_pickle_protocol(tmp_path, protocol):
    table = {f"N_000{i}": np.arange(17, dtype=np.float64) * 0.25 + i * 0.1 for i in (1, 2, 3)}
    _ganimation(tmp_path, table, protocol)
    train = read_dataset(str(tmp_path), "ganimation", "train")
    test = read_dataset(str(tmp_path), "ganimation", "test")
    assert _paths(train) == ["N_0001.jpg", "N_0002.jpg"]
    assert _paths(test) == ["N_0003.jpg"]
    np.testing.assert_allclose(test.aus[0], table["N_0003"] / 5, rtol=1e-6)


def test_ganimation_bad_values_and_missing_images_are_reported(tmp_path):
    table = {"N_0001": np.full(17, 2.0), "N_0002": np.full(17, 2.0),
             "N_0003": np.full(17, -1.0)}
    _ganimation(tmp_path, table)
    (tmp_path / "imgs" / "N_0002.jpg").unlink()
    Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / "N_0009.jpg")
    index = read_dataset(str(tmp_path), "ganimation", "all")
    pkl = tmp_path / "aus_openface.pkl"
    assert _paths(index) == ["N_0001.jpg"]
    assert [(r.where, r.reason) for r in index.report.skipped_rows] == [
        (f"{pkl}['N_0003']", "; ".join(f"{c}=-1 is negative" for c in AU_CODES))]
    assert index.report.aus_without_images == [f"{pkl}['N_0002']"]
    # N_0003's only row was skipped, so it has no usable row either.
    assert [os.path.basename(p) for p in index.report.images_without_aus] == [
        "N_0003.jpg", "N_0009.jpg"]


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    _ganimation(tmp_path, {"N_0001": np.zeros(17)})
    with open(tmp_path / "aus_openface.pkl", "wb") as handle:
        pickle.dump({"N_0001": _Exploit(marker)}, handle)
    with pytest.raises(DatasetError) as error:
        read_dataset(str(tmp_path), "ganimation", "all")
    assert f"refusing to unpickle global '{os.system.__module__}.system'" in str(error.value)
    assert not marker.exists()


def test_pickle_of_the_wrong_shape_is_refused(tmp_path):
    _ganimation(tmp_path, {"N_0001": np.zeros(17)})
    with open(tmp_path / "aus_openface.pkl", "wb") as handle:
        pickle.dump({"N_0001": np.zeros(5)}, handle)
    with pytest.raises(DatasetError, match=r"\['N_0001'\]: expected 17 AU intensities\. "
                                           r"Received float64 array of shape \(5,\)\."):
        read_dataset(str(tmp_path), "ganimation", "all")
    with open(tmp_path / "aus_openface.pkl", "wb") as handle:
        pickle.dump([1, 2], handle)
    with pytest.raises(DatasetError, match="Received a list"):
        read_dataset(str(tmp_path), "ganimation", "all")


class _UnknownCodec:
    def __reduce__(self):
        return (codecs.encode, ("x", "no-such-codec"))  # allowed global, fails when run


@pytest.mark.parametrize("table, message", [
    ({"N_0001": [[1.0, 2.0], [3.0]]}, r"\['N_0001'\]: expected 17 AU intensities\. Received a "
                                      r"ragged list\."),
    ({"N_0001": _UnknownCodec()}, r": not a readable pickle \(LookupError: unknown encoding"),
])
def test_a_corrupt_pickle_is_an_error_naming_it(tmp_path, table, message):
    _ganimation(tmp_path, {"N_0001": np.zeros(17)})
    pkl = tmp_path / "aus_openface.pkl"
    pkl.write_bytes(pickle.dumps(table))
    with pytest.raises(DatasetError, match=rf"^{pkl}" + message):
        read_dataset(str(tmp_path), "ganimation", "all")


def test_byte_flipped_pickles_load_or_are_errors_naming_the_file(tmp_path):
    good = pickle.dumps({f"N_{i:04d}": np.arange(17.0) for i in range(3)}, protocol=2)
    rng = np.random.default_rng(0)
    pkl = tmp_path / "aus_openface.pkl"
    for _ in range(300):
        damaged = bytearray(good)
        damaged[rng.integers(len(good))] = rng.integers(256)
        pkl.write_bytes(bytes(damaged))
        try:
            load_aus_pickle(str(pkl))
        except DatasetError as error:
            assert str(error).startswith(str(pkl))


# ----------------------------------------------------------------------------- manifest


def test_manifest_paths_relative_to_its_folder_values_on_openface_scale(tmp_path):
    (tmp_path / "pics").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "pics" / "x.png")
    absolute = tmp_path / "y.bmp"
    Image.new("RGB", (8, 8)).save(absolute)
    header = "path," + ",".join(AU_CODES) + ",note"
    rows = ["pics/x.png," + ",".join(["2.5"] * 17) + ",hi",
            f"{absolute}," + ",".join(["5"] * 17) + ",",
            "pics/missing.png," + ",".join(["1"] * 17) + ",",
            "pics/x.png," + ",".join(["-1"] + ["1"] * 16) + ","]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(header + "\n" + "\n".join(rows) + "\n")
    index = read_dataset(str(manifest), "manifest", "all")
    assert index.paths == sorted([f"{tmp_path}/pics/x.png", str(absolute)])
    np.testing.assert_allclose(index.aus[:, 0], [0.5, 1.0][:: 1 if index.paths[0].endswith(
        "x.png") else -1])
    assert index.report.aus_without_images == [f"{manifest}:4 (pics/missing.png)"]
    assert [(r.where, r.reason) for r in index.report.skipped_rows] == [
        (f"{manifest}:5", "AU01=-1 is negative")]


def test_manifest_without_the_au_columns_says_what_header_it_needs(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,AU01,AU02\nx.png,1,1\n")
    with pytest.raises(DatasetError, match=r"missing AU column\(s\) AU04, AU05.*A manifest "
                                           r"needs the header path,AU01,AU02,AU04"):
        read_dataset(str(manifest), "manifest")


# ----------------------------------------------------------------------------- encodings


def test_a_csv_that_is_not_utf8_is_skipped_and_noted_a_manifest_is_an_error(tmp_path,
                                                                            openface):
    openface.folder(tmp_path, count=2, test_count=0)
    (tmp_path / "notes.csv").write_bytes("subject,café\nx,3\n".encode("latin-1"))
    index = read_dataset(str(tmp_path), "openface", "all")
    assert len(index) == 2
    assert index.report.notes == [
        f"ignored {tmp_path}/notes.csv: not UTF-8 (byte 0xe9 at offset 11); save it as UTF-8 "
        '(Excel: "CSV UTF-8").']
    manifest = tmp_path / "m.csv"
    manifest.write_bytes(("path," + ",".join(AU_CODES) + "\ncafé.png," + ",".join(["1"] * 17)
                          ).encode("latin-1"))
    with pytest.raises(DatasetError, match=rf"^{manifest}: not UTF-8 \(byte 0xe9"):
        read_dataset(str(manifest), "manifest")


def test_csvs_with_excels_byte_order_mark_are_read(tmp_path, openface):
    folder = openface.folder(tmp_path / "of", count=2, test_count=0)
    folder.csv().write_text(folder.csv().read_text(), encoding="utf-8-sig")
    assert len(read_dataset(str(folder.root), "openface", "all")) == 2
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path," + ",".join(AU_CODES) + "\na.png," + ",".join(["1"] * 17) + "\n",
                        encoding="utf-8-sig")
    assert _paths(read_dataset(str(manifest), "manifest", "all")) == ["a.png"]


def test_split_files_with_spaces_around_the_names(face_folder):
    names = face_folder.names
    (face_folder.root / "test_ids.csv").write_text("".join(f"  {n}\t\r\n" for n in names[8:]))
    assert _paths(read_dataset(str(face_folder.root), "openface", "test")) == names[8:]


def test_a_frame_that_is_not_a_frame_number_is_a_bad_row(tmp_path, openface):
    (tmp_path / "clip").mkdir()
    for name in ("f1.png", "f2.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / "clip" / name)
    rows = [openface.row([1.0] * 17, frame=1)]
    rows += [openface.row([1.0] * 17, frame=2).replace("2, ", f"{frame}, ", 1)
             for frame in ("x", "nan", "1.5")]
    csv = tmp_path / "clip.csv"
    csv.write_text(openface.header(None) + "\n" + "\n".join(rows) + "\n")
    index = read_dataset(str(tmp_path), "openface", "all")
    assert _paths(index) == ["f1.png"]
    assert [(r.where, r.reason, r.bad) for r in index.report.skipped_rows] == [
        (f"{csv}:{line}", f"frame={frame!r} is not a frame number", True)
        for line, frame in ((3, "x"), (4, "nan"), (5, "1.5"))]
    with pytest.raises(DatasetError, match="3 bad AU row"):
        read_dataset(str(tmp_path), "openface", "all", strict=True)
