"""Tests of the synthetic face renderer: ground truth that is consistent with the images."""

import csv
import json

import cv2
import numpy as np
import pytest

from defgan_tf.aus import AU_CODES, NUM_AUS, PRESETS
from defgan_tf.data.readers import read_dataset
from defgan_tf.data.synthetic import (
    main,
    make_identity,
    render,
    render_motion_only,
    render_neutral,
    sample_aus,
    true_edit_flow,
    write_dataset,
    writer,
)
from defgan_tf.data.synthetic.writer import META_CSV, OPENFACE_CSV

AU = {code: i for i, code in enumerate(AU_CODES)}
SEEDS = (0, 1, 7)  # 0: beard + glasses, 1: long hair + beard + glasses, 7: no accessories


def only(code: str, value: float = 1.0) -> np.ndarray:
    aus = np.zeros(NUM_AUS, np.float32)
    aus[AU[code]] = value
    return aus


def bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Reference bilinear sampling with border clamping (what cv2.remap approximates)."""
    h, w = image.shape[:2]
    x, y = np.clip(x, 0, w - 1), np.clip(y, 0, h - 1)
    x0, y0 = np.minimum(np.floor(x).astype(int), w - 2), np.minimum(np.floor(y).astype(int), h - 2)
    tx, ty = x - x0, y - y0
    if image.ndim == 3:
        tx, ty = tx[..., None], ty[..., None]
    img = image.astype(np.float64)
    top = img[y0, x0] * (1 - tx) + img[y0, x0 + 1] * tx
    bottom = img[y0 + 1, x0] * (1 - tx) + img[y0 + 1, x0 + 1] * tx
    return top * (1 - ty) + bottom * ty


def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64))


def test_same_seed_gives_same_identity_and_bytes():
    aus = PRESETS["happy"]
    first = render(make_identity(11), aus, 64)
    second = render(make_identity(11), aus.copy(), 64)
    assert make_identity(11) == make_identity(11)
    assert first.image.tobytes() == second.image.tobytes()
    assert np.array_equal(first.flow, second.flow)
    assert make_identity(12) != make_identity(11)
    assert render(make_identity(12), aus, 64).image.tobytes() != first.image.tobytes()


def test_render_outputs_have_the_documented_types_and_shapes():
    out = render(make_identity(3), PRESETS["surprise"], 64)
    assert out.image.shape == (64, 64, 3) and out.image.dtype == np.uint8
    assert out.flow.shape == (64, 64, 2) and out.flow.dtype == np.float32
    assert out.regions.shape == (64, 64, NUM_AUS) and out.regions.dtype == bool
    assert out.landmarks.shape == (68, 2) and out.landmarks.dtype == np.float32


def test_neutral_landmarks_follow_dlib_order():
    lm = render(make_identity(5), np.zeros(NUM_AUS), 128).landmarks
    assert lm[36, 0] < lm[39, 0] < lm[42, 0] < lm[45, 0]  # eye corners, left to right
    assert lm[17, 0] < lm[21, 0] < lm[22, 0] < lm[26, 0]  # brows
    assert lm[48, 0] < lm[51, 0] < lm[54, 0]  # mouth corners and top of the upper lip
    assert lm[8, 1] == lm[:17, 1].max()  # chin is the lowest jaw point
    assert np.all(np.diff(lm[27:31, 1]) > 0)  # nose bridge runs down
    assert lm[19, 1] < lm[37, 1] < lm[41, 1] < lm[30, 1] < lm[51, 1] < lm[57, 1] < lm[8, 1]
    assert ((lm > 0) & (lm < 127)).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_each_au_alone_changes_pixels_only_inside_its_region(seed):
    identity = make_identity(seed)
    neutral = render_neutral(identity, 64).astype(int)
    for code in AU_CODES:
        out = render(identity, only(code), 64)
        diff = np.abs(out.image.astype(int) - neutral).max(-1)
        outside = ~out.regions[..., AU[code]]
        assert outside.mean() > 0.8, f"{code}'s region is not local"
        assert diff[outside].max() <= 2, (code, diff[outside].max())
        assert (diff > 6).sum() >= 3, f"{code} barely changes the face"


def _moved(code: str, seed: int = 4, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    identity = make_identity(seed)
    before = render(identity, np.zeros(NUM_AUS), size).landmarks
    return before, render(identity, only(code), size).landmarks


def test_au12_pulls_mouth_corners_up_and_outward():
    before, after = _moved("AU12")
    move = after - before
    assert move[48, 0] < -1 and move[54, 0] > 1
    assert move[48, 1] < -1 and move[54, 1] < -1


def test_au26_drops_the_chin():
    before, after = _moved("AU26")
    assert after[8, 1] - before[8, 1] > 3
    assert after[66, 1] > after[62, 1] + 1  # and the lips part


def test_au04_lowers_brows_and_draws_them_together():
    before, after = _moved("AU04")
    move = after - before
    assert (move[17:27, 1] > 0.5).all()
    assert move[21, 0] > 1 and move[22, 0] < -1


def test_au45_closes_the_upper_lids():
    before, after = _moved("AU45")
    assert ((after - before)[[37, 38, 43, 44], 1] > 1.5).all()
    gap_after = after[[41, 40, 47, 46], 1] - after[[37, 38, 43, 44], 1]
    assert np.abs(gap_after).max() < 0.5  # fully closed: upper lid on the lower lid


@pytest.mark.parametrize("name", ["happy", "surprise", "fear", "disgust"])
def test_warping_neutral_with_flow_reproduces_motion_only_render(name):
    identity = make_identity(2)
    aus = PRESETS[name]
    out = render(identity, aus, 96)
    x, y = grid(96)
    warped = bilinear(render_neutral(identity, 96), x + out.flow[..., 0], y + out.flow[..., 1])
    moved = render_motion_only(identity, aus, 96).astype(np.float64)
    diff = np.abs(np.rint(warped) - moved)
    assert diff.mean() < 0.05 and diff.max() <= 4  # cv2.remap rounds to 1/32 px
    assert np.abs(out.flow).max() > 1.5


def test_true_edit_flow_composed_with_source_flow_is_target_flow():
    identity = make_identity(6)
    source, target = PRESETS["sad"], PRESETS["surprise"]
    f_s = render(identity, source, 96).flow.astype(np.float64)
    f_t = render(identity, target, 96).flow.astype(np.float64)
    edit = true_edit_flow(identity, source, target, 96)
    x, y = grid(96)
    px, py = x + edit[..., 0], y + edit[..., 1]
    composed = edit + bilinear(f_s, px, py)
    assert np.abs(composed - f_t).max() < 1e-3
    assert np.abs(edit).max() > 2  # a real edit, not the identity
    # And the images agree: sampling the source at p + e(p) gives the target's motion.
    moved_source = render_motion_only(identity, source, 96)
    moved_target = render_motion_only(identity, target, 96).astype(float)
    assert np.abs(bilinear(moved_source, px, py) - moved_target).mean() < 1.0


def test_flow_is_linear_in_intensities_and_the_null_edit_is_the_identity():
    identity = make_identity(8)
    half = render(identity, PRESETS["fear"] * 0.5, 64).flow
    full = render(identity, PRESETS["fear"], 64).flow
    np.testing.assert_allclose(2 * half, full, atol=1e-5)
    same = true_edit_flow(identity, PRESETS["anger"], PRESETS["anger"], 64)
    assert np.abs(same).max() < 1e-4


@pytest.mark.parametrize("seed", (0, 3, 7))
@pytest.mark.parametrize("codes", [("AU25", "AU26"), ("AU26",), ("AU10",)])
def test_open_mouth_adds_pixels_no_warp_of_the_neutral_face_contains(seed, codes):
    identity = make_identity(seed)
    aus = np.zeros(NUM_AUS, np.float32)
    aus[[AU[c] for c in codes]] = 1.0
    out = render(identity, aus, 128)
    neutral = render_neutral(identity, 128).astype(float)
    lm = out.landmarks
    x0, y0 = np.floor(lm[48:68].min(0)).astype(int) - 10  # the flow moves at most ~6 px
    x1, y1 = np.ceil(lm[48:68].max(0)).astype(int) + 10
    window = neutral[y0:y1, x0:x1]
    luma = window @ [0.299, 0.587, 0.114]
    image = out.image[y0:y1, x0:x1].astype(float)
    dark = (image @ [0.299, 0.587, 0.114]) < luma.min() - 5
    chroma = image.max(-1) - image.min(-1)
    teeth = (image.min(-1) > 185) & (chroma < 30)
    neutral_teeth = (window.min(-1) > 185) & (window.max(-1) - window.min(-1) < 30)
    assert not neutral_teeth.any()
    assert (dark | teeth).sum() >= 8, (dark.sum(), teeth.sum())
    if "AU26" in codes:  # wide open: both the dark interior and teeth show
        assert dark.sum() >= 3 and teeth.sum() >= 3, (dark.sum(), teeth.sum())


def test_flows_stay_small_and_invertible_for_the_presets():
    for seed in SEEDS:
        for name, aus in PRESETS.items():
            flow = render(make_identity(seed), aus, 128).flow
            magnitude = np.linalg.norm(flow, axis=-1).max()
            assert magnitude <= 8, (seed, name, magnitude)
            dx_x, dx_y = np.gradient(flow[..., 0], axis=1), np.gradient(flow[..., 0], axis=0)
            dy_x, dy_y = np.gradient(flow[..., 1], axis=1), np.gradient(flow[..., 1], axis=0)
            det = (1 + dx_x) * (1 + dy_y) - dx_y * dy_x
            assert det.min() > 0.1, (seed, name, det.min())


def test_render_errors_say_what_is_valid():
    identity = make_identity(0)
    with pytest.raises(ValueError, match=r"aus must have shape \(17,\).*Received: shape \(3,\)"):
        render(identity, [0.1, 0.2, 0.3], 64)
    with pytest.raises(ValueError, match=r"aus must lie in \[0, 1\].*max 2\.500"):
        render(identity, only("AU12", 2.5), 64)
    with pytest.raises(ValueError, match=r"size must be an integer >= 32. Received: size=8"):
        render(identity, np.zeros(NUM_AUS), 8)
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer. Received: seed=-3"):
        make_identity(-3)


def test_sample_aus_mixes_neutral_presets_and_co_occurring_sparse_aus():
    aus = sample_aus(np.random.default_rng(0), 3000)
    assert aus.shape == (3000, NUM_AUS) and aus.dtype == np.float32
    assert aus.min() >= 0 and aus.max() <= 1
    assert np.array_equal(aus, sample_aus(np.random.default_rng(0), 3000))
    near_neutral = (aus.max(1) <= 0.25).mean()
    assert 0.4 < near_neutral < 0.55
    for trigger, partner in (("AU06", "AU12"), ("AU01", "AU02"), ("AU26", "AU25")):
        on = aus[:, AU[trigger]] > 0.3
        assert (aus[on, AU[partner]] > 0.05).mean() > 0.6, (trigger, partner)
    assert (aus[:, AU["AU45"]] > 0.3).mean() < (aus[:, AU["AU12"]] > 0.3).mean()


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()}


def _meta(folder):
    with open(folder / META_CSV, newline="") as handle:
        return list(csv.DictReader(handle))


def test_dataset_is_deterministic_and_split_by_identity(tmp_path):
    first = write_dataset(tmp_path / "a", count=45, size=32, seed=5, workers=1, progress=False)
    second = write_dataset(tmp_path / "b", count=45, size=32, seed=5, workers=2,
                           progress=False)
    assert _files(first) == _files(second)
    assert len(list((first / "imgs").glob("*.png"))) == 45
    rows = _meta(first)
    by_split = {split: {r["identity_seed"] for r in rows if r["split"] == split}
                for split in ("train", "test")}
    assert by_split["train"] and by_split["test"]
    assert not by_split["train"] & by_split["test"]
    counts = np.unique([r["identity_seed"] for r in rows], return_counts=True)[1]
    assert counts.max() <= 12 and (counts >= 8).sum() >= len(counts) - 1
    test_ids = (first / "test_ids.csv").read_text().split()
    assert test_ids == [r["filename"] for r in rows if r["split"] == "test"]
    info = json.loads((first / "synthetic.json").read_text())
    assert (info["count"], info["size"], info["seed"]) == (45, 32, 5)
    other = write_dataset(tmp_path / "c", count=45, size=32, seed=6, workers=1, progress=False)
    assert _files(other)["imgs/000000.png"] != _files(first)["imgs/000000.png"]


def test_dataset_images_are_the_renders_of_their_metadata(tmp_path):
    folder = write_dataset(tmp_path / "d", count=6, size=48, seed=2, workers=1, progress=False)
    for row in _meta(folder)[:3]:
        aus = np.array([float(row[c]) for c in AU_CODES], np.float32)
        expected = render(make_identity(int(row["identity_seed"])), aus, 48).image
        written = cv2.cvtColor(cv2.imread(str(folder / "imgs" / row["filename"])),
                               cv2.COLOR_BGR2RGB)
        assert np.array_equal(written, expected)


def test_openface_csv_reads_back_through_the_dataset_reader(tmp_path):
    folder = write_dataset(tmp_path / "e", count=30, size=32, seed=9, workers=1, progress=False)
    header = (folder / OPENFACE_CSV).read_text().splitlines()[0]
    assert header.startswith("filename, face, confidence, success, AU01_r, AU02_r, AU04_r")
    assert header.endswith("AU26_c, AU45_c")
    meta = {r["filename"]: np.array([float(r[c]) for c in AU_CODES]) for r in _meta(folder)}
    for split in ("train", "test"):
        index = read_dataset(str(folder), format="synthetic", split=split, validate=False)
        names = [p.rsplit("/", 1)[1] for p in index.paths]
        assert names == sorted(r for r, s in _split_of(folder).items() if s == split)
        expected = np.stack([meta[n] for n in names])
        np.testing.assert_allclose(index.aus, expected, atol=1e-6)


def _split_of(folder):
    return {r["filename"]: r["split"] for r in _meta(folder)}


def test_command_line_writes_a_dataset(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "cli"), "--count", "5", "--size", "32", "--seed", "1",
                 "--workers", "1", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "cli" / "imgs").iterdir()) == [
        f"{i:06d}.png" for i in range(5)]
    assert "wrote 5 faces" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "bad"), "--count", "0"])
    assert "count must be >= 1. Received: count=0" in capsys.readouterr().err


def test_a_new_render_replaces_an_earlier_dataset_only_when_complete(tmp_path, capsys,
                                                                     monkeypatch):
    out = tmp_path / "faces"
    write_dataset(out, count=12, size=32, seed=1, workers=1, progress=False)
    before = _files(out)
    with pytest.raises(SystemExit):
        main(["--out", str(out), "--count", "12", "--size", "32", "--seed", "-1"])
    assert "seed must be in [0, 2^32). Received: seed=-1" in capsys.readouterr().err
    assert _files(out) == before

    def crash(task):
        raise KeyboardInterrupt  # Ctrl-C half-way through the render

    monkeypatch.setattr(writer, "_render_group", crash)
    with pytest.raises(KeyboardInterrupt):
        write_dataset(out, count=9, size=32, seed=2, workers=1, progress=False)
    assert _files(out) == before
    monkeypatch.undo()
    write_dataset(out, count=9, size=32, seed=2, workers=1, progress=False)
    assert len(list((out / "imgs").glob("*.png"))) == 9  # none of the 12 left behind
    assert json.loads((out / "synthetic.json").read_text())["count"] == 9
    assert [p.name for p in tmp_path.iterdir()] == ["faces"]  # no hidden folder left


def test_command_line_refuses_a_file_as_out(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(afile), "--count", "5", "--size", "32"])
    assert exit_info.value.code == 2
    assert f"error: --out {afile} is a file. Choose a new or empty folder." in \
        capsys.readouterr().err
    assert afile.read_text() == "keep me"
