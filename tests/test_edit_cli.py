"""Tests for `defgan-edit` on the astronaut photograph with the shared tiny run directory."""

import pathlib

import numpy as np
import pytest
import skimage.data
from PIL import Image

from defgan_tf import edit
from defgan_tf.aus import AU_CODES
from defgan_tf.data import media


@pytest.fixture(scope="module")
def loaded(tiny_run_dir):
    from defgan_tf.editing.backends import load_backend

    return load_backend(tiny_run_dir)


@pytest.fixture
def warm(tiny_run_dir, loaded, monkeypatch):
    """Every main() after the first reuses one loaded backend (loading and tracing cost ~3 s)."""
    from defgan_tf.editing import editor

    real = editor.load_backend
    monkeypatch.setattr(editor, "load_backend",
                        lambda path, use_ema=True: loaded if pathlib.Path(path) == tiny_run_dir
                        else real(path, use_ema))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    astronaut = skimage.data.astronaut()
    media.write_image(folder / "astronaut.png", astronaut)
    media.write_image(folder / "wall.png", np.full((120, 160, 3), 90, np.uint8))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    two = np.concatenate([astronaut, astronaut[:, ::-1]], axis=1)
    media.write_image(folder / "two.jpg", two)
    return folder


def _run(capsys, *argv):
    status = edit.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_folder_with_bad_inputs_edits_the_good_ones(tiny_run_dir, photos, tmp_path, capsys):
    status, out, err = _run(capsys, photos / "astronaut.png", photos / "wall.png",
                            photos / "broken.jpg", "--model", tiny_run_dir,
                            "--expression", "happy", "--out", tmp_path)
    assert status == 1
    assert "error: " + str(photos / "wall.png") + ": no face found" in err
    assert "broken.jpg: not a readable image" in err
    assert "Edited 1 of 3 input(s), 1 face(s)" in out
    original = media.read_image(photos / "astronaut.png")
    edited = media.read_image(tmp_path / "astronaut_happy.png")
    assert edited.shape == original.shape
    changed = np.any(edited != original, axis=-1)
    assert changed[76:167, 175:266].mean() > 0.3  # the face box
    assert not changed[:, :120].any() and not changed[260:].any()


def test_two_faces_jpeg_with_debug_maps(warm, tiny_run_dir, photos, tmp_path, capsys):
    out_file = tmp_path / "smile.jpg"
    status, out, _ = _run(capsys, photos / "two.jpg", "--model", tiny_run_dir,
                          "--aus", "AU12=0.9,AU06=0.6", "--out", out_file, "--debug")
    assert status == 0 and "2 face(s)" in out
    with Image.open(out_file) as image:
        assert image.format == "JPEG" and image.size == (1024, 512)
    debug = sorted(p.name for p in tmp_path.glob("smile_debug_face*.png"))
    assert debug == ["smile_debug_face0.png", "smile_debug_face1.png"]
    # One labelled row: input, deformed, attention, flow, difference, edited.
    assert media.read_image(tmp_path / debug[0]).shape == (18 + 96, 6 * 96, 3)


def test_debug_maps_in_the_way_stop_the_edit_before_anything_is_written(
        warm, tiny_run_dir, photos, tmp_path, capsys):
    (tmp_path / "astronaut_happy_debug_face0.png").write_bytes(b"keep me")
    status, _, err = _run(capsys, photos / "astronaut.png", "--model", tiny_run_dir,
                          "--expression", "happy", "--out", tmp_path, "--debug")
    assert status == 1 and "astronaut_happy_debug_face0.png exists; pass --overwrite" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["astronaut_happy_debug_face0.png"]


def test_an_unexpected_error_fails_that_input_only(warm, tiny_run_dir, photos, tmp_path, capsys,
                                                   monkeypatch):
    from defgan_tf.editing.editor import Editor

    real = Editor.edit

    def edit(self, image, *args, **kwargs):
        if image.shape[1] == 1024:  # two.jpg
            raise RuntimeError("a library failed")
        return real(self, image, *args, **kwargs)

    monkeypatch.setattr(Editor, "edit", edit)
    status, out, err = _run(capsys, photos / "two.jpg", photos / "astronaut.png", "--model",
                            tiny_run_dir, "--expression", "happy", "--out", tmp_path)
    assert status == 1 and f"error: {photos / 'two.jpg'}: RuntimeError: a library failed" in err
    assert "Edited 1 of 2 input(s)" in out and (tmp_path / "astronaut_happy.png").is_file()


def test_a_photo_keeps_its_colour_profile_and_exif(warm, tiny_run_dir, tmp_path, capsys):
    from PIL import ImageCms

    photo = tmp_path / "phone.jpg"
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = Image.fromarray(skimage.data.astronaut())
    exif = image.getexif()
    exif[0x0110] = "Pixel 9"  # camera model
    image.save(photo, quality=95, icc_profile=profile, exif=exif.tobytes())
    status, _, _ = _run(capsys, photo, "--model", tiny_run_dir, "--expression", "happy")
    assert status == 0
    with Image.open(tmp_path / "phone_happy.jpg") as edited:
        assert edited.info.get("icc_profile") == profile
        assert edited.getexif().get(0x0110) == "Pixel 9"


def test_existing_output_is_refused_without_overwrite(warm, tiny_run_dir, photos, tmp_path, capsys):
    target = tmp_path / "out.png"
    target.write_bytes(b"keep me")
    args = (photos / "astronaut.png", "--model", tiny_run_dir, "--expression", "sad",
            "--out", target)
    status, _, err = _run(capsys, *args)
    assert status == 1 and "exists; pass --overwrite to replace it" in err
    assert target.read_bytes() == b"keep me"
    status, _, _ = _run(capsys, *args, "--overwrite")
    assert status == 0 and media.read_image(target).shape == (512, 512, 3)


@pytest.mark.parametrize(("argv", "message"), [
    (["--expression", "hapy"], "Unknown expression 'hapy'"),
    (["--aus", "AU13=1"], "Unknown action unit 'AU13'"),
    (["--sweep", "AU12", "--steps", "1"], "--steps must be at least 2; received 1"),
    (["--animate", "neutral,happy", "--fps", "0"], "--fps must be a positive number; received 0"),
    (["--animate", "source"], "--animate needs at least two expressions, e.g. source,happy"),
    (["--animate", "source,happy", "--fps", "60"], "--fps: a GIF plays at most 50 frames"),
    (["--sweep", "AU12", "--intensity", "0.5"], "--intensity scales an --expression or --aus"),
    (["--all-expressions", "--keep-others"], "--keep-others scales an --expression or --aus"),
    # an unset shell variable: an error of that flag, not a fall-through to --animate
    (["--expression", ""], "Unknown expression ''"),
    (["--aus", " "], "--aus is empty; give AU=value pairs"),
    (["--sweep", ""], "Unknown action unit ''"),
    (["--expression", "happy", "--source-aus", ""], "--source-aus is empty"),
    (["--sweep", "AU12", "--debug"], "--debug draws the maps of an --expression or --aus edit"),
    (["--animate", "source,happy", "--debug"], "--sweep, --all-expressions and --animate have"),
])
def test_usage_errors_exit_2_before_any_input(warm, tiny_run_dir, photos, capsys, argv, message):
    status, _, err = _run(capsys, photos / "astronaut.png", "--model", tiny_run_dir, *argv)
    assert status == 2 and message in err and err.startswith("defgan-edit: error:")


def test_not_a_model(photos, tmp_path, capsys):
    status, _, err = _run(capsys, photos / "astronaut.png", "--model", tmp_path,
                          "--expression", "happy")
    assert status == 2 and "is not a model: expected a training run directory" in err


def test_no_ema_asks_for_the_raw_weights(loaded, tiny_run_dir, photos, tmp_path, capsys,
                                         monkeypatch):
    from defgan_tf.editing import editor

    asked = []
    monkeypatch.setattr(editor, "load_backend",
                        lambda path, use_ema=True: asked.append(use_ema) or loaded)
    status, _, _ = _run(capsys, photos / "astronaut.png", "--model", tiny_run_dir,
                        "--expression", "happy", "--out", tmp_path, "--no-ema")
    assert status == 0 and asked == [False]


def test_no_ema_on_an_export_is_a_usage_error(photos, tmp_path, capsys):
    export = tmp_path / "model.tflite"
    export.write_bytes(b"never read")
    status, _, err = _run(capsys, photos / "astronaut.png", "--model", export,
                          "--expression", "happy", "--no-ema")
    assert status == 2
    assert "holds only the weights it was exported with (its metadata's \"weights\" says " \
           "which). Drop --no-ema to edit with them" in err


def test_sweep_grid_and_animation(warm, tiny_run_dir, photos, tmp_path, capsys):
    base = (photos / "astronaut.png", "--model", tiny_run_dir, "--out", tmp_path)
    assert _run(capsys, *base, "--sweep", "AU12", "--steps", "3")[0] == 0
    assert media.read_image(tmp_path / "astronaut_sweep_AU12.png").shape == (
        18 + 2 * 96, 70 + 3 * 96, 3)
    assert _run(capsys, *base, "--all-expressions")[0] == 0
    assert (tmp_path / "astronaut_all_expressions.png").is_file()
    # blanks in the list are dropped once, where --animate is checked
    assert _run(capsys, *base, "--animate", "neutral,, happy,", "--fps", "4")[0] == 0
    with Image.open(tmp_path / "astronaut_animation.gif") as gif:
        assert gif.n_frames == 5 and gif.size == (512, 512)


def test_video_is_edited_frame_by_frame(warm, tiny_run_dir, tmp_path, capsys):
    frame = skimage.data.astronaut()
    clip = tmp_path / "clip.mp4"
    media.write_animation(clip, [frame, np.roll(frame, 2, axis=1), frame], fps=5)
    status, _, _ = _run(capsys, clip, "--model", tiny_run_dir, "--expression", "surprise")
    assert status == 0
    frames, fps = media.read_video(tmp_path / "clip_surprise.mp4")
    assert fps == 5 and len(list(frames)) == 3


def test_openface_csv_gives_the_source(warm, tiny_run_dir, photos, tmp_path, capsys):
    columns = ["frame", "face_id", "confidence", "success"] + [f"{c}_r" for c in AU_CODES]
    good = tmp_path / "openface.csv"
    good.write_text(", ".join(columns) + "\n" + ", ".join(["1", "0", "0.98", "1"]
                                                           + ["2.5"] * len(AU_CODES)) + "\n")
    status, _, _ = _run(capsys, photos / "astronaut.png", "--model", tiny_run_dir, "--aus",
                        "AU12=1", "--openface-csv", good, "--out", tmp_path / "o.png")
    assert status == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("frame, AU01_r\n1, 2\n")
    status, _, err = _run(capsys, photos / "astronaut.png", "--model", tiny_run_dir, "--aus",
                          "AU12=1", "--openface-csv", bad)
    assert status == 2 and "bad.csv: " in err and "AU02_r" in err


@pytest.mark.parametrize(("content", "message"), [
    (None, "no usable row (1 without a tracked face, 0 with bad values)"),
    (b"\xff\xd8\xff\xe0 a JPEG", "not a UTF-8 text file (invalid start byte at byte 0)"),
    (b"frame," + b"x" * 200_000 + b"\n", "line 1: not a readable CSV (field larger than"),
])
def test_openface_csv_without_a_usable_row_is_one_line(warm, tiny_run_dir, photos, tmp_path,
                                                        capsys, content, message):
    csv = tmp_path / "openface.csv"
    if content is None:  # OpenFace's output for a photo where it found no face
        columns = ["frame", "face_id", "confidence", "success"] + [f"{c}_r" for c in AU_CODES]
        csv.write_text(", ".join(columns) + "\n"
                       + ", ".join(["1", "0", "0", "0"] + ["0"] * len(AU_CODES)) + "\n")
    else:
        csv.write_bytes(content)
    status, _, err = _run(capsys, photos / "astronaut.png", "--model", tiny_run_dir,
                          "--expression", "happy", "--openface-csv", csv)
    assert status == 2 and err.startswith(f"defgan-edit: error: {csv}: ") and message in err


def test_checkpoint_that_does_not_fit_its_config(tiny_run_dir, photos, tmp_path, capsys):
    import shutil

    from defgan_tf.config import load_config, save_config

    run = tmp_path / "run"
    shutil.copytree(tiny_run_dir, run)
    config = load_config(run / "config.yaml", ["model.generator_width=8"])
    save_config(config, run / "config.yaml")
    status, _, err = _run(capsys, photos / "astronaut.png", "--model", run,
                          "--expression", "happy")
    assert status == 2
    assert "does not hold the weights of the model its config.yaml describes" in err
    assert "model.image_size=" in err


def test_a_video_takes_one_target_and_needs_a_face(warm, tiny_run_dir, tmp_path, capsys):
    clip = tmp_path / "blank.mp4"
    media.write_animation(clip, [np.full((64, 64, 3), 90, np.uint8)] * 2, fps=5)
    status, _, err = _run(capsys, clip, "--model", tiny_run_dir, "--sweep", "AU12")
    assert status == 2
    assert f"--sweep makes an image of a photo; {clip} is a video. Edit videos with" in err
    status, _, err = _run(capsys, clip, "--model", tiny_run_dir, "--aus", "AU12=1", "--debug")
    assert status == 2 and f"--debug draws the maps of a photo's edit; {clip} is a video." in err
    status, out, err = _run(capsys, clip, "--model", tiny_run_dir, "--expression", "happy")
    assert status == 1 and "blank.mp4: no face found in any frame; nothing was edited." in err
    assert "Edited 0 of 1 input(s)" in out and not (tmp_path / "blank_happy.mp4").exists()


def test_two_inputs_never_write_one_output(warm, tiny_run_dir, photos, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "astronaut.png").write_bytes((photos / "astronaut.png").read_bytes())
    out = tmp_path / "out"
    status, _, err = _run(capsys, photos / "astronaut.png", other / "astronaut.png", "--model",
                          tiny_run_dir, "--expression", "happy", "--out", out, "--overwrite")
    assert status == 1
    assert (f"{other / 'astronaut.png'}: its output {out / 'astronaut_happy.png'} was already "
            f"written for {photos / 'astronaut.png'} in this run") in err
    assert [p.name for p in out.iterdir()] == ["astronaut_happy.png"]


def test_folders_leave_out_earlier_outputs_unless_named(tmp_path):
    names = ["a.png", "a_happy.png", "a_happy_debug_face0.png", "b_sweep_AU12.png",
             "c_edited.jpg", "d_all_expressions.png", "e_animation.mp4", "f_smile.png",
             "g_Surprise.JPG", "notes.txt"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    inputs, skipped = edit.expand_inputs([str(tmp_path), str(tmp_path / "a_happy.png")])
    assert [p.name for p in inputs] == ["a.png", "f_smile.png", "a_happy.png"]
    assert [p.name for p in skipped] == ["a_happy.png", "a_happy_debug_face0.png",
                                         "b_sweep_AU12.png", "c_edited.jpg",
                                         "d_all_expressions.png", "e_animation.mp4",
                                         "g_Surprise.JPG"]
    smile = {"smile": np.zeros(len(AU_CODES), np.float32)}  # a --presets file's names count
    inputs, _ = edit.expand_inputs([str(tmp_path / "*.png")], smile)
    assert [p.name for p in inputs] == ["a.png", "a_happy.png"]


def test_editing_a_folder_again_does_not_edit_its_outputs(warm, tiny_run_dir, photos, tmp_path,
                                                          capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "astronaut.png").write_bytes((photos / "astronaut.png").read_bytes())
    assert _run(capsys, folder, "--model", tiny_run_dir, "--expression", "happy")[0] == 0
    status, out, err = _run(capsys, folder, "--model", tiny_run_dir, "--expression", "sad")
    assert status == 0 and "Edited 1 of 1 input(s)" in out
    assert (f"note: Left out 1 earlier output(s) of defgan-edit, e.g. "
            f"{folder / 'astronaut_happy.png'}; name such files as inputs") in err
    assert sorted(p.name for p in folder.iterdir()) == [
        "astronaut.png", "astronaut_happy.png", "astronaut_sad.png"]
    (folder / "astronaut.png").unlink()
    status, _, err = _run(capsys, folder, "--model", tiny_run_dir, "--expression", "sad")
    assert status == 2
    assert (f"defgan-edit: error: no image or video matches {folder}. Left out 2 earlier "
            "output(s)") in err
