"""Reading photos (EXIF orientation, any mode) and writing images, GIFs and MP4s.

Kept free of TensorFlow (of the package it imports only `defgan_tf.files`) so that
data preparation (`defgan_tf.data.faces`) and the editor read images the same way.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator, Sequence

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from defgan_tf.files import written_in_place

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv")
ANIMATION_SUFFIXES = (".gif", ".mp4")
GIF_MAX_FPS = 50  # GIF frame durations are hundredths of a second, and players show
#                   those under 2 (20 ms) slower than asked
JPEG_QUALITY = 95
EXIF_ORIENTATION = 0x0112


class ImageReadError(ValueError):
    """A file is missing, truncated or not an image."""


def read_image(path: str | pathlib.Path) -> np.ndarray:
    """Decodes a photo as the viewer shows it: EXIF orientation applied, RGB uint8.

    Grayscale, palette, RGBA (alpha dropped), CMYK and 16-bit images are converted.

    Args:
        path: image file.

    Returns:
        (H, W, 3) uint8 RGB.

    Raises:
        ImageReadError: the file is missing, truncated, not a decodable image, or claims
            more than twice PIL's `Image.MAX_IMAGE_PIXELS` (a decompression bomb, which a
            corrupt header can also announce).
    """
    path = pathlib.Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                pixels = np.asarray(image, dtype=np.float64)
                scale = 255.0 / 65535.0 if pixels.max() > 255 else 1.0
                gray = np.clip(np.rint(pixels * scale), 0, 255).astype(np.uint8)
                return np.repeat(gray[..., None], 3, axis=2)
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except FileNotFoundError as error:
        raise ImageReadError(f"{path}: no such file") from error
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError,
            ValueError) as error:
        raise ImageReadError(f"{path}: not a readable image ({error})") from error


def read_metadata(path: str | pathlib.Path) -> dict[str, bytes]:
    """A photo's colour profile and EXIF, to write back with its edit (`write_image`).

    Without its ICC profile a wide-gamut photo (a phone's Display P3) would be shown as
    sRGB, its colours shifted. The EXIF orientation is set to 1 because `read_image`
    already turned the pixels upright. Unreadable metadata is left out, not an error.
    """
    metadata = {}
    try:
        with Image.open(path) as image:
            if image.info.get("icc_profile"):
                metadata["icc_profile"] = image.info["icc_profile"]
            exif = image.getexif()
            if exif:
                exif[EXIF_ORIENTATION] = 1
                metadata["exif"] = exif.tobytes()
    except (OSError, SyntaxError, ValueError):
        return {}
    return metadata


def write_image(path: str | pathlib.Path, image: np.ndarray,
                metadata: dict[str, bytes] | None = None) -> None:
    """Writes an RGB uint8 image in the format its suffix names, atomically.

    JPEG at quality 95 with full-resolution colour (4:4:4); WebP lossless, so that what
    an edit did not touch comes back unchanged.

    Args:
        path: output file; parent folders are created.
        image: (H, W, 3) uint8 RGB.
        metadata: `read_metadata`'s colour profile and EXIF, for formats that hold them
            (JPEG, PNG, WebP, TIFF).
    """
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    options: dict = {}
    if suffix in (".jpg", ".jpeg"):
        options = {"quality": JPEG_QUALITY, "subsampling": 0}
    elif suffix == ".webp":
        options = {"lossless": True}
    if metadata and suffix in (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"):
        options.update(metadata)
    with written_in_place(path) as partial:
        Image.fromarray(np.asarray(image, np.uint8)).save(partial, **options)


def read_video(path: str | pathlib.Path) -> tuple[Iterator[np.ndarray], float]:
    """Opens a video for frame-by-frame reading.

    Args:
        path: video file (any container OpenCV's FFmpeg reads).

    Returns:
        (frames, fps): an iterator of (H, W, 3) uint8 RGB frames and the frame rate.

    Raises:
        ImageReadError: the file cannot be opened as a video.
    """
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ImageReadError(f"{path}: not a readable video")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0

    def frames() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()

    return frames(), float(fps)


def write_animation(path: str | pathlib.Path, frames: Sequence[np.ndarray], fps: float) -> None:
    """Writes frames as a looping GIF or an MP4 (MPEG-4 part 2, OpenCV's built-in encoder).

    Args:
        path: output file ending in .gif or .mp4.
        frames: (H, W, 3) uint8 RGB frames, all the same size.
        fps: frames per second.
    """
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in ANIMATION_SUFFIXES:
        raise ValueError(
            f"Animations are written as {' or '.join(ANIMATION_SUFFIXES)}; received {str(path)!r}."
        )
    if not frames:
        raise ValueError("write_animation received no frames.")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"the frame rate must be a positive number; received {fps}.")
    if suffix == ".gif":
        check_gif_fps(fps, path.name)
    shape = np.shape(frames[0])
    if len(shape) != 3 or shape[2] != 3:
        raise ValueError(f"{path.name}: every frame must be one (H, W, 3) image; frame 0 "
                         f"is {shape}.")
    for index, frame in enumerate(frames[1:], start=1):
        if np.shape(frame) != shape:
            raise ValueError(f"{path.name}: every frame must be one (H, W, 3) image; frame 0 "
                             f"is {shape}, frame {index} {np.shape(frame)}.")
    with written_in_place(path) as partial:
        if suffix == ".gif":
            images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
            images[0].save(partial, format="GIF", save_all=True, append_images=images[1:],
                           duration=round(1000 / fps), loop=0)
        else:
            _write_mp4(partial, frames, fps)
            _check_mp4(partial, len(frames), path.name)


def check_gif_fps(fps: float, name: str) -> None:
    """Refuses a GIF frame rate above GIF_MAX_FPS, which would play slower than asked."""
    if fps > GIF_MAX_FPS:
        raise ValueError(f"{name}: a GIF plays at most {GIF_MAX_FPS} frames per second "
                         f"(20 ms per frame); received {fps:g}. Write an .mp4 for more.")


def _check_mp4(partial: pathlib.Path, expected: int, name: str) -> None:
    """Reads the frame count back: OpenCV's writer reports no error of its own (a full disk,
    a refused frame), and a short video must not replace the output."""
    capture = cv2.VideoCapture(str(partial))
    try:
        written = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    finally:
        capture.release()
    if written != expected:
        raise OSError(f"{name}: only {written} of {expected} frames were written (is the disk "
                      "full?); nothing was saved.")


def _write_mp4(path: pathlib.Path, frames: Sequence[np.ndarray], fps: float) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write MP4 here (no mp4v encoder in this build of "
                      f"opencv-python-headless?); write a .gif instead. ({path.name})")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(np.asarray(frame, np.uint8), cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
