"""TFRecord shards: example round trip, shard discovery, counts, and the pipeline reading them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from defgan_tf.data.pipeline import make_dataset
from defgan_tf.data.readers import DatasetError, read_dataset
from defgan_tf.data.tfrecord import (
    conversion_folder,
    count_records,
    encode_example,
    find_shards,
    parse_example,
    write_metadata,
    write_shards,
)


def test_example_round_trip():
    aus = np.linspace(0, 1, 17, dtype=np.float32)
    image, parsed = parse_example(tf.constant(encode_example(b"\x89PNG...", aus, "a/b.png")))
    assert image.numpy() == b"\x89PNG..."
    np.testing.assert_array_equal(parsed.numpy(), aus)


def test_shards_hold_every_image_round_robin_and_count_from_metadata(face_folder, tmp_path):
    index = read_dataset(str(face_folder.root), "openface", "train")
    out = str(tmp_path / "records")
    counts = write_shards(index.paths, index.aus, out, "train", 3)
    assert counts == {"train-00000-of-00003.tfrecord": 3, "train-00001-of-00003.tfrecord": 3,
                      "train-00002-of-00003.tfrecord": 2}
    shards = find_shards(out, "train")
    assert count_records(shards) == 8  # by reading: no dataset.json yet
    write_metadata(out, {"shards": {name: 100 for name in counts}})
    assert count_records(shards) == 300  # trusts dataset.json when it lists the files
    first = [parse_example(r)[0].numpy() for r in tf.data.TFRecordDataset(shards[0])]
    assert first == [Path(index.paths[i]).read_bytes() for i in (0, 3, 6)]


def test_find_shards_prefers_the_split_then_all_and_takes_globs(tmp_path):
    for name in ("train-00000-of-00001.tfrecord", "test-00000-of-00001.tfrecord"):
        (tmp_path / name).write_bytes(b"")
    assert find_shards(str(tmp_path), "test") == [f"{tmp_path}/test-00000-of-00001.tfrecord"]
    assert len(find_shards(str(tmp_path), "all")) == 2
    assert find_shards(f"{tmp_path}/tr*.tfrecord", "test") == [
        f"{tmp_path}/train-00000-of-00001.tfrecord"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "all-00000-of-00001.tfrecord").write_bytes(b"")
    assert find_shards(str(tmp_path / "other"), "train") == [
        f"{tmp_path}/other/all-00000-of-00001.tfrecord"]
    with pytest.raises(DatasetError, match=r"no train-\*\.tfrecord or all-\*\.tfrecord in"):
        read_dataset(str(tmp_path / "nothing"), "tfrecord", "train")


def test_pipeline_reads_tfrecords_exactly_like_the_image_folder(face_folder, tmp_path):
    index = read_dataset(str(face_folder.root), "openface", "train")
    write_shards(index.paths, index.aus, str(tmp_path), "train", 3)
    records = read_dataset(str(tmp_path), "tfrecord", "train")
    assert len(records) == 8 and records.paths == []
    kwargs = {"training": False, "repeat": False, "seed": 5}
    from_files = list(make_dataset(index, 16, 4, **kwargs).as_numpy_iterator())
    from_records = list(make_dataset(str(tmp_path), 16, 4, **kwargs).as_numpy_iterator())
    assert len(from_files) == len(from_records) == 2
    for a, b in zip(from_files, from_records):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    shuffled = make_dataset(records, 16, 4, seed=1, shuffle_buffer=8)
    batch = next(iter(shuffled))
    assert batch["image"].shape == (4, 16, 16, 3)


def test_a_corrupt_record_is_dropped_not_fatal(face_folder, tmp_path):
    index = read_dataset(str(face_folder.root), "openface", "train")
    with tf.io.TFRecordWriter(str(tmp_path / "train-00000-of-00001.tfrecord")) as writer:
        writer.write(encode_example(Path(index.paths[0]).read_bytes(), index.aus[0], "ok"))
        writer.write(encode_example(b"garbage", index.aus[1], "bad"))
        writer.write(encode_example(Path(index.paths[2]).read_bytes(), index.aus[2], "ok"))
    (tmp_path / "dataset.json").write_text(json.dumps({}))
    batches = list(make_dataset(str(tmp_path), 16, 4, training=False, repeat=False))
    np.testing.assert_array_equal(batches[0]["source_aus"].numpy(), index.aus[[0, 2]])


def test_a_glob_skips_dataset_json_and_names_a_file_that_holds_no_records(face_folder,
                                                                          tmp_path):
    index = read_dataset(str(face_folder.root), "openface", "train")
    counts = write_shards(index.paths, index.aus, str(tmp_path), "train", 2)
    write_metadata(str(tmp_path), {"shards": counts})
    (tmp_path / "sub").mkdir()
    records = read_dataset(f"{tmp_path}/*", "tfrecord", "train")
    assert [Path(s).name for s in records.shards] == list(counts) and len(records) == 8
    (tmp_path / "notes.txt").write_text("These are notes about the records, not records.")
    with pytest.raises(DatasetError, match=rf"^tfrecord: {tmp_path}/notes\.txt: cannot be read "
                                           r"as TFRecords \(corrupted record at 0"):
        read_dataset(f"{tmp_path}/*", "tfrecord", "train")


def test_a_conversion_replaces_the_earlier_one_and_touches_no_other_file(face_folder,
                                                                         tmp_path):
    index = read_dataset(str(face_folder.root), "openface", "train")
    out = tmp_path / "records"
    for shards in (3, 2):
        with conversion_folder(str(out)) as staging:
            counts = write_shards(index.paths, index.aus, staging, "train", shards)
            write_metadata(staging, {"shards": counts})
        (out / "notes.txt").write_text("mine")
        (out / "train-00000-of-00002.tfrecord.bak").write_bytes(b"not the converter's")
    assert sorted(p.name for p in out.iterdir()) == [
        "dataset.json", "notes.txt", "train-00000-of-00002.tfrecord",
        "train-00000-of-00002.tfrecord.bak", "train-00001-of-00002.tfrecord"]
    with pytest.raises(KeyboardInterrupt), conversion_folder(str(out)) as staging:
        write_shards(index.paths[:2], index.aus[:2], staging, "train", 1)
        raise KeyboardInterrupt  # Ctrl-C half-way: the earlier conversion stays whole
    assert len(read_dataset(str(out), "tfrecord", "train")) == 8
    assert sorted(p.name for p in out.iterdir())[:3] == [
        "dataset.json", "notes.txt", "train-00000-of-00002.tfrecord"]
