"""mobile_demo.run_tflite edits with LiteRT only and gives the Keras model's edit."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from mobile_demo.run_tflite import DemoError, TFLiteEditor, crop_square, paste


@pytest.fixture(scope="module")
def face(tiny_data_dir):
    """One 32×32 synthetic face, uint8 RGB."""
    path = sorted((tiny_data_dir / "imgs").glob("*.png"))[0]
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_cli_runs_without_tensorflow_and_matches_keras(tiny_tflite, tiny_run_dir, face,
                                                       tmp_path):
    cv2.imwrite(str(tmp_path / "face.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    script = (
        "import sys\n"
        "from mobile_demo import run_tflite\n"
        "code = run_tflite.main(sys.argv[1:])\n"
        "assert 'tensorflow' not in sys.modules and 'defgan_tf' not in sys.modules\n"
        "sys.exit(code)\n")
    subprocess.run([sys.executable, "-c", script, "--model", str(tiny_tflite), "--image",
                    str(tmp_path / "face.png"), "--out", str(tmp_path / "maps.png"),
                    "--expression", "happy", "--aus", "AU26=0.5", "--source-aus", "AU45=0.2",
                    "--crop", "0,0,32,32", "--maps", "--threads", "1"], check=True, timeout=60)
    maps = cv2.cvtColor(cv2.imread(str(tmp_path / "maps.png")), cv2.COLOR_BGR2RGB)
    assert maps.shape == (32, 4 * 32, 3)
    np.testing.assert_array_equal(maps[:, :32], face)

    from defgan_tf.aus import PRESETS, parse_aus
    from defgan_tf.models import load_run

    _, model = load_run(tiny_run_dir)
    target = parse_aus("AU26=0.5", base=PRESETS["happy"])[None]
    out = model(face[None].astype(np.float32) / 127.5 - 1, parse_aus("AU45=0.2")[None], target)
    edited = np.clip(np.rint((out["edited"][0].numpy() + 1) * 127.5), 0, 255)
    assert np.abs(maps[:, 96:].astype(np.float32) - edited).max() <= 1


def test_source_aus_default_to_the_models_estimate(tiny_tflite, face):
    editor = TFLiteEditor(tiny_tflite, threads=1)
    source = editor.estimate_aus(face)
    assert source.shape == (17,) and ((source >= 0) & (source <= 1)).all()
    target = editor.expression("surprise")
    np.testing.assert_array_equal(editor.edit(face, target)["edited"],
                                  editor.edit(face, target, source)["edited"])


def test_user_mistakes_name_the_valid_choices(tiny_tflite):
    editor = TFLiteEditor(tiny_tflite, threads=1)
    with pytest.raises(DemoError, match=r"unknown action unit 'AU-12'.*Did you mean AU12\?"):
        editor.parse_aus("AU-12=0.5")
    with pytest.raises(DemoError, match=r"AU12=1.5 is outside \[0, 1\]"):
        editor.parse_aus("AU12=1.5")
    with pytest.raises(DemoError, match=r"'hapy' is not a preset.*Did you mean happy\?"):
        editor.expression("hapy")


def test_crop_and_paste_round_trip_outside_the_image():
    image = np.arange(40 * 50 * 3, dtype=np.uint8).reshape(40, 50, 3)
    box = (-5, 10, 20, 20)
    crop = crop_square(image, box, 20)
    np.testing.assert_array_equal(crop[:, 5:], image[10:30, 0:15])
    np.testing.assert_array_equal(crop[:, 0], image[10:30, 0])  # replicated edge
    np.testing.assert_array_equal(paste(image, crop, box), image)


def test_broken_files_and_boxes_are_demo_errors(tiny_tflite, tmp_path, capsys):
    from mobile_demo.run_tflite import main

    model = tmp_path / "m.tflite"
    model.write_bytes(tiny_tflite.read_bytes())
    sidecar = tmp_path / "m.tflite.json"
    sidecar.write_text("{not json")
    with pytest.raises(DemoError, match=r"m.tflite.json: not the sidecar of an export "
                       r"\(JSONDecodeError: .*re-export the model"):
        TFLiteEditor(model)
    sidecar.write_text('{"au_codes": []}')
    with pytest.raises(DemoError, match=r"not the sidecar of an export \(KeyError: "
                       "'image_size'\\)"):
        TFLiteEditor(model)
    sidecar.write_text((tiny_tflite.parent / (tiny_tflite.name + ".json")).read_text())
    model.write_bytes(b"TFL3 truncated")
    with pytest.raises(DemoError, match=r"--model .*m.tflite: not a loadable .tflite model"):
        TFLiteEditor(model)
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), np.zeros((32, 40, 3), np.uint8))
    argv = ["--model", str(tiny_tflite), "--image", str(image), "--out", str(tmp_path / "o.png"),
            "--crop", "500,0,32,32", "--threads", "1"]
    assert main(argv) == 2
    assert capsys.readouterr().err == "error: --crop 500,0,32,32 lies outside the 40×32 image.\n"


@pytest.fixture
def photo(tmp_path, face):
    """The tiny face saved as tmp_path/face.png."""
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    return path


def _demo(model, image, out, *extra):
    from mobile_demo.run_tflite import main

    return main(["--model", str(model), "--image", str(image), "--out", str(out),
                 "--crop", "0,0,32,32", "--threads", "1", *extra])


@pytest.mark.parametrize(("name", "kind"), [("edited", "a name without an extension"),
                                            ("edited.foo", ".foo files")])
def test_out_without_a_writable_extension_stops_before_the_model(name, kind, tmp_path, photo,
                                                                 capsys):
    # No model file: the --out check must come first.
    assert _demo(tmp_path / "missing.tflite", photo, tmp_path / name) == 2
    assert capsys.readouterr().err == (
        f"error: --out {tmp_path / name}: OpenCV cannot write {kind}; use .png or .jpg.\n")


@pytest.mark.parametrize(("name", "kind"), [
    ("edited.pbm", ".pbm"),  # OpenCV returns False: .pbm needs one channel
    ("edited", "a file without an extension"),  # OpenCV raises cv2.error
])
def test_an_image_opencv_cannot_encode_is_a_demo_error(name, kind, tmp_path):
    from mobile_demo.run_tflite import _write_image

    with pytest.raises(DemoError, match=f"cannot encode this image as {kind}; use .png"):
        _write_image(tmp_path / name, np.zeros((4, 4, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_existing_out_needs_overwrite(tiny_tflite, tmp_path, photo, capsys):
    out = tmp_path / "edited.png"
    out.write_bytes(b"earlier")
    assert _demo(tiny_tflite, photo, out) == 2
    assert capsys.readouterr().err == (
        f"error: --out {out} exists; pass --overwrite to replace it.\n")
    assert out.read_bytes() == b"earlier"
    assert _demo(tiny_tflite, photo, out, "--overwrite") == 0
    assert cv2.imread(str(out)).shape == (32, 32, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.png", "face.png"]


def test_out_is_never_the_image_itself(tmp_path, photo, capsys):
    before = photo.read_bytes()
    (tmp_path / "sub").mkdir()
    same = tmp_path / "sub" / ".." / "face.png"  # another spelling of the same file
    assert _demo(tmp_path / "missing.tflite", photo, same, "--overwrite") == 2
    assert capsys.readouterr().err == (
        f"error: --out {same} is the --image; write the edit to another file.\n")
    assert photo.read_bytes() == before


def test_failed_write_leaves_the_earlier_out(tiny_tflite, tmp_path, photo, monkeypatch,
                                             capsys):
    from mobile_demo import run_tflite

    def no_space(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_tflite.os, "replace", no_space)
    out = tmp_path / "edited.png"
    out.write_bytes(b"earlier")
    assert _demo(tiny_tflite, photo, out, "--overwrite") == 2
    assert capsys.readouterr().err == (
        f"error: --out {out}: cannot write it (No space left on device).\n")
    assert out.read_bytes() == b"earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.png", "face.png"]


def test_missing_litert_is_one_line(tmp_path, photo, without_litert, capsys):
    assert _demo(tmp_path / "m.tflite", photo, tmp_path / "edited.png") == 2
    assert capsys.readouterr().err == (
        "error: this demo runs the model with LiteRT: pip install 'defgan-tf[litert]' "
        "(the ai-edge-litert package).\n")


def test_zero_threads_is_a_usage_error(tmp_path, photo, capsys):
    from mobile_demo.run_tflite import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(tmp_path / "m.tflite"), "--image", str(photo), "--out",
              str(tmp_path / "edited.png"), "--threads", "0"])
    assert exit_info.value.code == 2
    assert "argument --threads: must be ≥ 1, received 0" in capsys.readouterr().err


@pytest.mark.parametrize(("crop", "inside"), [("0,0,100000,100000", "0.0%"),
                                              ("-40,-32,81,64", "24.7%")])
def test_crop_mostly_outside_the_image_is_refused(crop, inside, tiny_tflite, tmp_path, capsys):
    from mobile_demo.run_tflite import main

    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), np.zeros((32, 40, 3), np.uint8))
    out = tmp_path / "edited.png"
    assert main(["--model", str(tiny_tflite), "--image", str(image), "--out", str(out),
                 f"--crop={crop}", "--threads", "1"]) == 2
    assert capsys.readouterr().err == (
        f"error: --crop {crop}: only {inside} of the box lies inside the 40×32 image; at "
        "least 25% must. Give the face's box, grown by about a quarter on each side.\n")
    assert not out.exists()


def test_crop_a_quarter_inside_is_accepted(tiny_tflite, tmp_path):
    from mobile_demo.run_tflite import main

    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), np.zeros((32, 40, 3), np.uint8))
    assert main(["--model", str(tiny_tflite), "--image", str(image), "--out",
                 str(tmp_path / "edited.png"), "--crop=-40,-32,80,64", "--threads", "1"]) == 0


def test_crop_pads_only_the_box_not_the_whole_photo(monkeypatch):
    from mobile_demo import run_tflite

    padded = []
    real = cv2.copyMakeBorder

    def recording(*args, **kwargs):
        out = real(*args, **kwargs)
        padded.append(out.shape)
        return out

    monkeypatch.setattr(run_tflite.cv2, "copyMakeBorder", recording)
    photo = np.zeros((400, 500, 3), np.uint8)
    assert crop_square(photo, (-5, 10, 20, 30), 8).shape == (8, 8, 3)
    assert padded == [(30, 20, 3)]  # the box, not the 400 × 500 photo grown by it
