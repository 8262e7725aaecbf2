"""`defgan-data`: TFRecord conversion with its report, user errors exit 2 without traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
from PIL import Image

from defgan_tf.data.prepare import main
from defgan_tf.data.readers import read_dataset


def test_tfrecord_command_writes_splits_metadata_and_the_skip_report(face_folder, tmp_path,
                                                                    capsys):
    (face_folder.root / "imgs" / "face_002.png").write_bytes(b"broken")
    out = tmp_path / "records"
    status = main(["tfrecord", "--in", str(face_folder.root), "--out", str(out),
                   "--shards", "2"])
    assert status == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["dataset.json", "test-00000-of-00002.tfrecord",
                     "test-00001-of-00002.tfrecord", "train-00000-of-00002.tfrecord",
                     "train-00001-of-00002.tfrecord"]
    meta = json.loads((out / "dataset.json").read_text())
    assert sum(v for k, v in meta["shards"].items() if k.startswith("train")) == 7
    assert meta["report"]["bad_images"][0][0].endswith("face_002.png")
    printed = capsys.readouterr().out
    assert "1 image(s) could not be decoded and were skipped:" in printed
    assert "wrote 11 records in 4 shard(s)" in printed
    assert len(read_dataset(str(out), "tfrecord", "test")) == 4


def test_dataset_without_splits_becomes_all_shards(tmp_path, openface):
    folder = openface.folder(tmp_path / "d", count=3, test_count=0)
    assert main(["tfrecord", "--in", str(folder.root), "--out", str(tmp_path / "r")]) == 0
    assert sorted(p.name for p in (tmp_path / "r").glob("*.tfrecord")) == [
        f"all-0000{i}-of-00003.tfrecord" for i in range(3)]


def test_a_second_conversion_replaces_the_first_and_keeps_other_files(face_folder, tmp_path):
    out = tmp_path / "records"
    assert main(["tfrecord", "--in", str(face_folder.root), "--out", str(out),
                 "--shards", "3"]) == 0
    (out / "README.md").write_text("mine")
    assert main(["tfrecord", "--in", str(face_folder.root), "--out", str(out),
                 "--shards", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "dataset.json", "test-00000-of-00002.tfrecord",
        "test-00001-of-00002.tfrecord", "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord"]
    assert len(read_dataset(str(out), "tfrecord", "train")) == 8
    (face_folder.root / "train_ids.csv").unlink()
    (face_folder.root / "test_ids.csv").unlink()
    assert main(["tfrecord", "--in", str(face_folder.root), "--out", str(out)]) == 0
    assert len(read_dataset(str(out), "tfrecord", "train")) == 12  # all-*, no stale train-*


def test_an_out_folder_that_cannot_be_written_is_one_line_before_reading(face_folder,
                                                                        tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    assert main(["tfrecord", "--in", str(face_folder.root), "--out", str(afile)]) == 2
    assert capsys.readouterr().err == (
        f"defgan-data tfrecord: error: --out {afile} is a file; give a folder.\n")
    assert main(["tfrecord", "--in", str(face_folder.root), "--out", str(afile / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"defgan-data tfrecord: error: {afile}") and err.count("\n") == 1
    assert "TFRecord" not in err  # failed before the validation pass and its progress bar
    raw = tmp_path / "raw"
    raw.mkdir()
    Image.fromarray(skimage.data.astronaut()).save(raw / "astronaut.png")
    assert main(["faces", "--in", str(raw), "--out", str(afile), "--detector", "haar"]) == 2
    assert capsys.readouterr().err == (
        f"defgan-data faces: error: --out {afile} is a file; give a folder.\n")
    assert main(["faces", "--in", str(raw), "--out", str(afile / "sub"),
                 "--detector", "haar"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("defgan-data faces: error: [Errno") and err.count("\n") == 1


def test_user_errors_exit_2_with_a_message(tmp_path, face_folder, capsys):
    assert main(["tfrecord", "--in", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"defgan-data tfrecord: error: openface: dataset folder not found: {tmp_path}/nope\n")
    text = face_folder.csv().read_text().splitlines()
    values = text[3].split(", ")  # line 4: face_002.png
    values[6] = "nan"  # AU01_r
    text[3] = ", ".join(values)
    face_folder.csv().write_text("\n".join(text) + "\n")
    assert main(["tfrecord", "--in", str(face_folder.root), "--out", str(tmp_path / "o"),
                 "--strict"]) == 2
    assert f"{face_folder.csv()}:4: AU01_r is NaN" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["tfrecord", "--in", "x", "--out", "y", "--shards", "0"])
    assert exit_info.value.code == 2
    assert "argument --shards: must be ≥ 1, received 0" in capsys.readouterr().err


def test_faces_command_crops_with_the_faces_module(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(raw / "wall.png")
    assert main(["faces", "--in", str(raw), "--out", str(tmp_path / "crops"), "--size", "32",
                 "--detector", "haar"]) == 0
    assert "0 face crops written" in capsys.readouterr().out
    assert main(["faces", "--in", str(raw), "--out", str(tmp_path / "c"),
                 "--detector", "hug"]) == 2
    assert "Unknown detector 'hug'" in capsys.readouterr().err
