"""Tests for photo reading (EXIF, modes, broken files) and image/animation writing."""

import pathlib
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from defgan_tf.data import media


def _gradient(height=20, width=30):
    ys, xs = np.mgrid[:height, :width]
    return np.stack([xs * 8, ys * 12, (xs + ys) * 4], axis=-1).astype(np.uint8)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(_gradient())
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)
    pixels = media.read_image(path)
    assert pixels.shape == (30, 20, 3)
    np.testing.assert_allclose(pixels.astype(float),
                               np.rot90(_gradient(), k=-1).astype(float), atol=12)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_modes_become_rgb(tmp_path, mode):
    path = tmp_path / f"image_{mode}.png"
    Image.fromarray(_gradient()).convert(mode).save(path)
    pixels = media.read_image(path)
    assert pixels.shape == (20, 30, 3) and pixels.dtype == np.uint8


def test_sixteen_bit_is_scaled(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((4, 5), 65535, np.uint16)).save(path)
    assert (media.read_image(path) == 255).all()


def test_truncated_and_missing_files(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(_gradient(200, 200)).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(media.ImageReadError, match="cut.png: not a readable image"):
        media.read_image(path)
    with pytest.raises(media.ImageReadError, match="nothing.png: no such file"):
        media.read_image(tmp_path / "nothing.png")


def test_a_header_claiming_a_huge_image_is_unreadable_not_a_crash(tmp_path):
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    path = tmp_path / "bomb.png"  # 20000² RGB in 68 bytes
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(
        ">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b""))
    with pytest.raises(media.ImageReadError, match=r"bomb\.png: not a readable image \(Image "
                                                   r"size \(400000000 pixels\) exceeds limit"):
        media.read_image(path)


def test_write_image_round_trips_png_and_keeps_jpeg_quality(tmp_path):
    image = _gradient()
    media.write_image(tmp_path / "a" / "out.png", image)
    np.testing.assert_array_equal(media.read_image(tmp_path / "a" / "out.png"), image)
    media.write_image(tmp_path / "out.jpg", image)
    assert np.abs(media.read_image(tmp_path / "out.jpg").astype(int) - image).mean() < 2


def test_metadata_comes_back_with_orientation_reset_and_webp_is_lossless(tmp_path):
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = Image.fromarray(_gradient()[:40])  # wider than tall
    exif = image.getexif()
    exif[media.EXIF_ORIENTATION] = 6  # the camera was turned: shown rotated 90°
    exif[0x0110] = "Pixel 9"
    image.save(tmp_path / "phone.jpg", icc_profile=profile, exif=exif.tobytes())
    upright = media.read_image(tmp_path / "phone.jpg")
    assert upright.shape[0] > upright.shape[1]
    metadata = media.read_metadata(tmp_path / "phone.jpg")
    for name in ("out.jpg", "out.png", "out.webp"):
        media.write_image(tmp_path / name, upright, metadata)
        with Image.open(tmp_path / name) as written:
            assert written.info["icc_profile"] == profile
            assert written.getexif()[media.EXIF_ORIENTATION] == 1
            assert written.getexif()[0x0110] == "Pixel 9"
        assert media.read_image(tmp_path / name).shape == upright.shape  # not turned again
    np.testing.assert_array_equal(media.read_image(tmp_path / "out.webp"), upright)
    media.write_image(tmp_path / "out.bmp", upright, metadata)  # BMP holds neither: ignored
    assert media.read_metadata(tmp_path / "out.bmp") == {}
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    assert media.read_metadata(tmp_path / "broken.jpg") == {}


def test_gif_and_mp4(tmp_path):
    frames = [np.full((32, 48, 3), v, np.uint8) for v in (0, 120, 240)]
    media.write_animation(tmp_path / "a.gif", frames, fps=10)
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 3 and gif.info["duration"] == 100
    media.write_animation(tmp_path / "a.gif", frames, fps=50)
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.info["duration"] == 20
    media.write_animation(tmp_path / "a.mp4", frames, fps=10)
    read, fps = media.read_video(tmp_path / "a.mp4")
    decoded = list(read)
    assert fps == 10 and len(decoded) == 3 and decoded[0].shape == (32, 48, 3)
    assert abs(int(decoded[2].mean()) - 240) < 6
    with pytest.raises(ValueError, match=r"written as \.gif or \.mp4; received .*a\.avi"):
        media.write_animation(tmp_path / "a.avi", frames, fps=10)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial_one(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"keep me")

    def disk_full(image, path, *args, **kwargs):
        pathlib.Path(path).write_bytes(b"half a png")
        raise OSError("No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        media.write_image(target, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(OSError, match="No space left"):
        media.write_animation(tmp_path / "out.gif", [np.zeros((8, 8, 3), np.uint8)], fps=5)
    assert target.read_bytes() == b"keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_mp4_without_an_encoder_and_a_bad_frame_rate_are_errors(tmp_path, monkeypatch):
    frames = [np.zeros((8, 8, 3), np.uint8)]
    with pytest.raises(ValueError, match="frame rate must be a positive number; received 0"):
        media.write_animation(tmp_path / "a.gif", frames, fps=0)
    with pytest.raises(ValueError, match=r"a\.gif: a GIF plays at most 50 frames per second "
                                         r"\(20 ms per frame\); received 60\. Write an \.mp4"):
        media.write_animation(tmp_path / "a.gif", frames, fps=60)

    class NoEncoder:
        def __init__(self, *args):
            pass

        def isOpened(self):  # noqa: N802 (OpenCV's name)
            return False

    monkeypatch.setattr(media.cv2, "VideoWriter", NoEncoder)
    with pytest.raises(OSError, match=r"OpenCV cannot write MP4 here .* write a \.gif instead"):
        media.write_animation(tmp_path / "a.mp4", frames, fps=5)
    assert list(tmp_path.iterdir()) == []


def test_frames_of_another_size_are_refused(tmp_path):
    # OpenCV's writer drops such a frame without a word; the GIF would be resized
    frames = [np.zeros((32, 48, 3), np.uint8), np.zeros((32, 40, 3), np.uint8)]
    for name in ("a.mp4", "a.gif"):
        message = (rf"{name}: every frame must be one \(H, W, 3\) image; "
                   r"frame 0 is \(32, 48, 3\), frame 1 \(32, 40, 3\)")
        with pytest.raises(ValueError, match=message):
            media.write_animation(tmp_path / name, frames, fps=5)
        with pytest.raises(ValueError, match=rf"{name}: .*frame 0 is \(32, 48\)\.$"):
            media.write_animation(tmp_path / name, [np.zeros((32, 48), np.uint8)], fps=5)
    assert list(tmp_path.iterdir()) == []


def test_an_mp4_missing_frames_is_an_error_and_not_saved(tmp_path, monkeypatch):
    real = media.cv2.VideoWriter

    class DiskFullAfterOneFrame:
        """OpenCV's writer on a full disk: write() returns as if it had written."""

        def __init__(self, *args):
            self.writer, self.frames = real(*args), 0

        def isOpened(self):  # noqa: N802 (OpenCV's name)
            return self.writer.isOpened()

        def write(self, frame):
            self.frames += 1
            if self.frames == 1:
                self.writer.write(frame)

        def release(self):
            self.writer.release()

    target = tmp_path / "clip.mp4"
    target.write_bytes(b"keep me")
    monkeypatch.setattr(media.cv2, "VideoWriter", DiskFullAfterOneFrame)
    frames = [np.full((16, 16, 3), v, np.uint8) for v in (0, 100, 200)]
    with pytest.raises(OSError, match=r"clip\.mp4: only 1 of 3 frames were written \(is the disk "
                                      r"full\?\); nothing was saved\."):
        media.write_animation(target, frames, fps=5)
    assert target.read_bytes() == b"keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
