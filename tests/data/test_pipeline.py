"""The tf.data pipeline: shapes, ranges, image conversions, flips, target AUs, seeds, sharding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from defgan_tf.aus import AU_CODES
from defgan_tf.config import load_config
from defgan_tf.data.images import load_image
from defgan_tf.data.pipeline import make_dataset, make_dataset_from_config, sample_targets
from defgan_tf.data.readers import DatasetError, DatasetIndex, read_dataset


@pytest.fixture
def index(face_folder) -> DatasetIndex:
    return read_dataset(str(face_folder.root), "openface", "all")


def _batches(dataset, count):
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(count)]


def test_batches_have_the_documented_shapes_dtypes_and_ranges(index):
    batch = _batches(make_dataset(index, 16, 5, seed=0), 1)[0]
    assert set(batch) == {"image", "source_aus", "target_aus"}
    assert batch["image"].shape == (5, 16, 16, 3) and batch["image"].dtype == np.float32
    assert batch["source_aus"].shape == batch["target_aus"].shape == (5, 17)
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1
    assert batch["image"].min() < -0.9 and batch["image"].max() > 0.9  # uses the full range
    for key in ("source_aus", "target_aus"):
        assert batch[key].dtype == np.float32 and 0 <= batch[key].min() <= batch[key].max() <= 1


def test_training_drops_the_remainder_evaluation_keeps_it(index):
    one_pass = make_dataset(index, 16, 5, training=False, repeat=False)
    assert [b["image"].shape[0] for b in _batches(one_pass, 10)] == [5, 5, 2]
    train = make_dataset(index, 16, 5, repeat=False)
    assert [b["image"].shape[0] for b in _batches(train, 10)] == [5, 5]


def test_images_and_aus_stay_paired_and_flip_mirrors_about_half(face_folder, index):
    originals = face_folder.images.astype(np.float32) / 255 * 2 - 1
    by_aus = {tuple(np.round(a, 4)): i for i, a in enumerate(face_folder.aus)}
    flips = total = 0
    for batch in _batches(make_dataset(index, 16, 6, seed=3), 20):
        for image, aus in zip(batch["image"], batch["source_aus"]):
            original = originals[by_aus[tuple(np.round(aus, 4))]]
            mirrored = np.allclose(image, original[:, ::-1], atol=1e-5)
            assert mirrored or np.allclose(image, original, atol=1e-5)
            flips, total = flips + mirrored, total + 1
    assert 0.35 < flips / total < 0.65
    for batch in _batches(make_dataset(index, 16, 6, seed=3, flip=False), 5):
        for image, aus in zip(batch["image"], batch["source_aus"]):
            np.testing.assert_allclose(image, originals[by_aus[tuple(np.round(aus, 4))]],
                                       atol=1e-5)


def test_jitter_shifts_each_face_by_at_most_n_pixels_and_only_while_training(
        face_folder, index):
    originals = face_folder.images.astype(np.float32) / 255 * 2 - 1
    by_aus = {tuple(np.round(a, 4)): i for i, a in enumerate(face_folder.aus)}
    shifts = set()
    for batch in _batches(make_dataset(index, 16, 6, seed=3, flip=False, jitter=2), 5):
        for image, aus in zip(batch["image"], batch["source_aus"]):
            original = originals[by_aus[tuple(np.round(aus, 4))]]
            # Away from the mirrored edges the face is the original, rolled.
            matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                       if np.allclose(np.roll(original, (dy, dx), (0, 1))[2:-2, 2:-2],
                                      image[2:-2, 2:-2], atol=1e-5)]
            assert len(matches) == 1
            shifts.add(matches[0])
    assert len(shifts) >= 10  # of the 25 possible
    evaluation = make_dataset(index, 16, 6, training=False, repeat=False, jitter=2)
    plain = make_dataset(index, 16, 6, training=False, repeat=False)
    for a, b in zip(_batches(evaluation, 3), _batches(plain, 3)):
        np.testing.assert_array_equal(a["image"], b["image"])


def test_targets_are_a_permutation_of_the_batch_plus_bounded_noise(index):
    fixed_points, deltas = 0, []
    for batch in _batches(make_dataset(index, 16, 6, target_noise=0.1, seed=1), 30):
        source, target = batch["source_aus"], batch["target_aus"]
        distance = np.abs(target[:, None, :] - source[None, :, :]).max(-1)  # (target, source)
        match = distance.argmin(1)
        assert sorted(match) == list(range(6))  # a permutation of the batch
        assert distance[np.arange(6), match].max() <= 0.1 + 1e-6
        fixed_points += int((match == np.arange(6)).sum())
        delta = target - source[match]
        inside = (target > 0) & (target < 1)  # clipping hides the noise elsewhere
        deltas.append(delta[inside])
    deltas = np.concatenate(deltas)
    assert abs(deltas.mean()) < 0.01
    assert abs(deltas.std() - 0.1 / np.sqrt(3)) < 0.006  # U(-0.1, 0.1)
    assert fixed_points / (30 * 6) < 0.4  # about 1/6: targets really come from other faces
    exact = _batches(make_dataset(index, 16, 6, target_noise=0.0, seed=1), 3)
    for batch in exact:
        np.testing.assert_array_equal(np.sort(batch["target_aus"], 0),
                                      np.sort(batch["source_aus"], 0))


def test_sample_targets_clips_into_the_unit_interval():
    source = tf.constant([[0.0] * 17, [1.0] * 17], tf.float32)
    key = tf.constant([4, 2], tf.int64)
    target = sample_targets(source, key, 0.5).numpy()
    assert target.min() >= 0 and target.max() <= 1
    assert (target == 0).any() and (target == 1).any()


def test_same_seed_same_stream_other_seed_other_stream(index):
    first = _batches(make_dataset(index, 16, 4, seed=7), 4)
    again = _batches(make_dataset(index, 16, 4, seed=7), 4)
    other = _batches(make_dataset(index, 16, 4, seed=8), 4)
    for a, b in zip(first, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a["target_aus"], b["target_aus"])
               for a, b in zip(first, other))


def test_non_square_images_are_centre_cropped_then_resized(tmp_path):
    image = np.zeros((32, 48, 3), np.uint8)
    image[:, :] = (255, 0, 0)
    image[:, 8:40] = (128, 128, 128)
    Image.fromarray(image).save(tmp_path / "wide.png")
    (tmp_path / "m.csv").write_text("path," + ",".join(AU_CODES) + "\nwide.png"
                                    + ",1" * 17 + "\n")
    batch = _batches(make_dataset(read_dataset(str(tmp_path / "m.csv"), "manifest"), 16, 1,
                                  training=False), 1)[0]
    np.testing.assert_allclose(batch["image"], 128 / 255 * 2 - 1, atol=1e-5)


def _write_modes(folder) -> dict[str, np.ndarray]:
    """Writes one 8×8 image per awkward mode; returns the RGB in [0, 1] training must see."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (8, 8, 1), dtype=np.uint8)
    expected = {}
    Image.fromarray(rgb[..., 0]).save(folder / "gray.png")
    expected["gray.png"] = np.repeat(rgb[..., :1] / 255, 3, -1)
    Image.fromarray(np.concatenate([rgb, alpha], -1), "RGBA").save(folder / "rgba.png")
    expected["rgba.png"] = rgb / 255 * (alpha / 255)
    Image.fromarray(np.concatenate([rgb[..., :1], alpha], -1), "LA").save(folder / "la.png")
    expected["la.png"] = np.repeat(rgb[..., :1] / 255, 3, -1) * (alpha / 255)
    palette = Image.fromarray(rgb).quantize(colors=16)  # written as a 4-bit PNG
    palette.save(folder / "palette.png")
    expected["palette.png"] = np.asarray(palette.convert("RGB")) / 255
    palette.save(folder / "palette_t.png", transparency=0)
    keep = (np.asarray(palette) != 0)[..., None]
    expected["palette_t.png"] = np.asarray(palette.convert("RGB")) / 255 * keep
    Image.fromarray(rgb[..., 0] > 127).save(folder / "bw.png")  # 1-bit
    expected["bw.png"] = np.repeat(rgb[..., :1] > 127, 3, -1).astype(np.float64)
    gray16 = rng.integers(0, 65536, (8, 8), dtype=np.uint16)
    cv2.imwrite(str(folder / "gray16.png"), gray16)
    expected["gray16.png"] = np.repeat(gray16[..., None] / 65535, 3, -1)
    rgb16 = rng.integers(0, 65536, (8, 8, 3), dtype=np.uint16)
    cv2.imwrite(str(folder / "rgb16.png"), rgb16[..., ::-1])  # OpenCV writes BGR
    expected["rgb16.png"] = rgb16 / 65535
    Image.fromarray(rgb).save(folder / "plain.bmp")
    expected["plain.bmp"] = rgb / 255
    Image.fromarray(rgb).save(folder / "photo.jpg", quality=95)
    expected["photo.jpg"] = np.asarray(Image.open(folder / "photo.jpg").convert("RGB")) / 255
    return expected


def test_grayscale_alpha_palette_16bit_bmp_jpeg_become_rgb(tmp_path):
    expected = _write_modes(tmp_path)
    names = sorted(expected)
    (tmp_path / "m.csv").write_text("path," + ",".join(AU_CODES) + "\n" + "".join(
        name + ",1" * 17 + "\n" for name in names))
    index = read_dataset(str(tmp_path / "m.csv"), "manifest", "all")
    assert [os.path.basename(p) for p in index.paths] == names
    batch = _batches(make_dataset(index, 8, len(names), training=False), 1)[0]
    for name, image in zip(names, (batch["image"] + 1) / 2):
        tolerance = 1.5 / 255 if name.endswith(".jpg") else 1e-4  # libjpeg builds differ
        np.testing.assert_allclose(image, expected[name], atol=tolerance, err_msg=name)
        # The editor's reader is the same decoder, rounded to uint8.
        np.testing.assert_array_equal(load_image(str(tmp_path / name)),
                                      np.round(image * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"missing\.png: cannot read image: .*No such file"):
        load_image(str(tmp_path / "missing.png"))


def test_an_empty_dataset_is_an_error_with_the_report(face_folder):
    config_index = read_dataset(str(face_folder.root), "openface", "all", min_confidence=0.99)
    with pytest.raises(DatasetError) as error:
        make_dataset(config_index, 16, 4)
    assert str(error.value).startswith(
        f"the dataset at {face_folder.root} has no usable image for split 'train'. What the "
        "reader left out:\n12 AU row(s) skipped:\n")
    assert "confidence=0.98 < min_confidence=0.99" in str(error.value)


def test_a_pass_that_decodes_no_image_is_an_error_not_an_endless_wait(face_folder):
    imgs = face_folder.root / "imgs"
    for name in face_folder.names[1:]:
        (imgs / name).write_bytes(b"corrupt")
    index = read_dataset(str(face_folder.root), "openface", "all", validate=False)
    batches = _batches(make_dataset(index, 16, 4, seed=0), 3)  # one good image is enough
    assert all((b["source_aus"] == index.aus[0]).all() for b in batches)
    (imgs / face_folder.names[0]).write_bytes(b"corrupt")
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"the dataset at {face_folder.root}: no image could be decoded "
                             r"in a whole pass over it; read it with validate=True"):
        next(iter(make_dataset(index, 16, 4, seed=0)))


def test_input_contexts_shard_the_data_and_split_the_batch(index):
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2,
                                             input_pipeline_id=pipeline,
                                             num_replicas_in_sync=4)
        batches = _batches(make_dataset(index, 16, 8, training=False, repeat=False,
                                        input_context=context), 10)
        assert [b["image"].shape[0] for b in batches] == [2, 2, 2]  # 8 // 4 replicas
        seen.append({tuple(row) for b in batches for row in b["source_aus"]})
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == 12


def test_make_dataset_from_config_uses_the_config(face_folder):
    config = load_config(overrides=[
        "data.format=openface", f"data.path={face_folder.root}", "model.image_size=16",
        "train.batch_size=3", "data.target_noise=0.0"])
    batch = _batches(make_dataset_from_config(config, "train"), 1)[0]
    assert batch["image"].shape == (3, 16, 16, 3)
    test = _batches(make_dataset_from_config(config, "test"), 5)
    assert [b["image"].shape[0] for b in test] == [3, 1]  # 4 test faces, one pass
    np.testing.assert_array_equal(np.sort(batch["target_aus"], 0),
                                  np.sort(batch["source_aus"], 0))


_MIRRORED = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from defgan_tf.data.pipeline import make_dataset
    from defgan_tf.data.readers import read_dataset
    index = read_dataset(sys.argv[1], "openface", "all")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    data = strategy.distribute_datasets_from_function(
        lambda context: make_dataset(index, 16, 6, input_context=context, seed=0))
    batch = next(iter(data))
    images = strategy.experimental_local_results(batch["image"])
    sources = np.concatenate([x.numpy() for x in
                              strategy.experimental_local_results(batch["source_aus"])])
    print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                      "shapes": [list(x.shape) for x in images],
                      "distinct_faces": len({tuple(r) for r in sources})}))
""")


def test_works_under_mirrored_strategy_on_two_logical_cpus(face_folder):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-c", _MIRRORED, str(face_folder.root)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"replicas": 2, "shapes": [[3, 16, 16, 3], [3, 16, 16, 3]],
                      "distinct_faces": 6}
