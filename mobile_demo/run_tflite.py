"""Edit a face with an exported .tflite using LiteRT only — what a phone app does, in Python.

No TensorFlow and no `defgan_tf` import: the model file and its sidecar JSON
(`model.tflite.json`: AU order, input size, presets) are all it needs, so this file
is the reference for porting the pre/post-processing to Kotlin, Swift or JavaScript.

    python -m mobile_demo.run_tflite --model defgan_int8.tflite --image me.jpg \\
        --expression happy --out happy.png [--aus AU12=1,AU25=0.6] [--crop X,Y,W,H] \\
        [--overwrite]
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import uuid
from pathlib import Path

import cv2
import numpy as np

FACE_MARGIN = 0.25
"""Grow the detector's box by this fraction on each side: the training crops show the
whole head (chin, brows, some hair), the Haar box only the inner face."""

MIN_CROP_INSIDE = 0.25
"""Least fraction of a --crop box's area that must lie inside the photo. Beyond the
photo the crop repeats its edge pixels, which the model has never seen; and since the
inside part is at most the photo, the box is at most 4× the photo's area (each side at
most 4× the photo's), which bounds the memory the crop takes."""


class DemoError(ValueError):
    """A user mistake (file, option value); main prints it without a traceback."""


class TFLiteEditor:
    """An exported DefGAN `.tflite` and its sidecar.

    Args:
        model_path: the `.tflite` file; `<model_path>.json` must sit beside it.
        threads: CPU threads for LiteRT.

    Attributes:
        au_codes: the order of the 17 AU inputs.
        image_size: side S of the square crops the model edits.
        presets: expression name → (17,) float32 in [0, 1], `au_codes` order.
    """

    def __init__(self, model_path: str | Path, threads: int = 2):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            # The same advice as export.tflite gives; imported from there, it would pull
            # TensorFlow into a demo meant to run without it.
            raise DemoError("this demo runs the model with LiteRT: pip install "
                            "'defgan-tf[litert]' (the ai-edge-litert package).") from None
        model_path = Path(model_path)
        sidecar = model_path.with_name(model_path.name + ".json")
        if not model_path.is_file():
            raise DemoError(f"--model {model_path}: no such file.")
        if not sidecar.is_file():
            raise DemoError(f"{sidecar} is missing: export the model with "
                            "`python -m export.tflite`, which writes it beside the .tflite.")
        try:
            meta = json.loads(sidecar.read_text())
            self.au_codes: list[str] = list(meta["au_codes"])
            self.image_size = int(meta["image_size"])
            self.presets = {name: np.asarray(values, np.float32)
                            for name, values in meta["presets"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as error:  # JSON errors too
            raise DemoError(f"{sidecar}: not the sidecar of an export ({type(error).__name__}: "
                            f"{error}); re-export the model with `python -m export.tflite`."
                            ) from None
        try:
            interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
        except ValueError as error:
            raise DemoError(f"--model {model_path}: not a loadable .tflite model "
                            f"({str(error).strip().splitlines()[0]}).") from None
        signatures = interpreter.get_signature_list()
        if "edit" not in signatures:
            raise DemoError(f"--model {model_path} has no 'edit' signature (it has "
                            f"{', '.join(signatures) or 'none'}); export the model with "
                            "`python -m export.tflite`.")
        self._edit = interpreter.get_signature_runner("edit")
        self._estimate = (interpreter.get_signature_runner("estimate_aus")
                          if "estimate_aus" in signatures else None)

    def parse_aus(self, text: str, base: np.ndarray | None = None) -> np.ndarray:
        """`"AU12=0.8,AU06=0.5"` → (17,) float32, starting from `base` (default zeros).

        Raises:
            DemoError: an unknown AU (with the closest code) or a value outside [0, 1].
        """
        aus = np.zeros(len(self.au_codes), np.float32) if base is None else base.copy()
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, _, value = item.partition("=")
            code = name.strip().upper()
            if code not in self.au_codes:
                close = difflib.get_close_matches(code, self.au_codes, n=1)
                hint = f" Did you mean {close[0]}?" if close else ""
                raise DemoError(f"--aus: unknown action unit {name!r}; the model knows "
                                f"{', '.join(self.au_codes)}.{hint}")
            try:
                number = float(value)
            except ValueError:
                raise DemoError(f"--aus: {item!r} needs a number, e.g. {code}=0.8.") from None
            if not 0.0 <= number <= 1.0:
                raise DemoError(f"--aus: {code}={number} is outside [0, 1].")
            aus[self.au_codes.index(code)] = number
        return aus

    def expression(self, name: str) -> np.ndarray:
        """A preset's AUs (copy); DemoError naming the presets for an unknown name."""
        if name not in self.presets:
            close = difflib.get_close_matches(name, list(self.presets), n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise DemoError(f"--expression {name!r} is not a preset; choose one of "
                            f"{', '.join(self.presets)}.{hint}")
        return self.presets[name].copy()

    def estimate_aus(self, crop: np.ndarray) -> np.ndarray:
        """AUs of an (S, S, 3) uint8 RGB crop from the model's own estimator: (17,)."""
        if self._estimate is None:
            raise DemoError("this .tflite has no estimate_aus signature; give --source-aus.")
        return self._estimate(image=to_model(crop)[None])["aus"][0]

    def edit(self, crop: np.ndarray, target_aus: np.ndarray,
             source_aus: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Edits one crop.

        Args:
            crop: (S, S, 3) uint8 RGB.
            target_aus, source_aus: (17,) float32 in [0, 1], `au_codes` order; source
                None = estimated by the model.

        Returns:
            `edited`, `deformed` (S, S, 3) uint8 RGB and `mask` (S, S) uint8
            (255 = kept the deformed pixel, 0 = painted by the texture generator).
        """
        if source_aus is None:
            source_aus = self.estimate_aus(crop)
        out = self._edit(image=to_model(crop)[None],
                         source_aus=np.asarray(source_aus, np.float32)[None],
                         target_aus=np.asarray(target_aus, np.float32)[None])
        return {"edited": from_model(out["edited"][0]), "deformed": from_model(out["deformed"][0]),
                "mask": np.clip(np.rint(out["mask"][0, ..., 0] * 255), 0, 255).astype(np.uint8)}


def to_model(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB [0, 255] → float32 [-1, 1], the exported models' image range."""
    return rgb.astype(np.float32) / 127.5 - 1.0


def from_model(image: np.ndarray) -> np.ndarray:
    """float [-1, 1] → uint8 RGB (rounded, clipped)."""
    return np.clip(np.rint((image + 1.0) * 127.5), 0, 255).astype(np.uint8)


def detect_face(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """The largest face's square box (x, y, side, side), grown by FACE_MARGIN, OpenCV Haar.

    Raises:
        DemoError: no face found (the message suggests --crop).
    """
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    faces = cascade.detectMultiScale(gray, 1.1, 5, minSize=(24, 24))
    if len(faces) == 0:
        raise DemoError("no face found; give the face's box with --crop X,Y,W,H.")
    x, y, w, h = max(faces, key=lambda box: box[2] * box[3])
    side = round(float(max(w, h)) * (1 + 2 * FACE_MARGIN))
    return int(x + w / 2 - side / 2), int(y + h / 2 - side / 2), side, side


def crop_square(rgb: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """The box of `rgb` (edges replicated where it leaves the image) resized to size².

    Only the part of the box outside the image is padded, so the memory taken is the
    box's, not the image's grown by the box on every side. The box must overlap the image.
    """
    x, y, w, h = box
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, rgb.shape[1]), min(y + h, rgb.shape[0])
    patch = cv2.copyMakeBorder(rgb[y0:y1, x0:x1], y0 - y, y + h - y1, x0 - x, x + w - x1,
                               cv2.BORDER_REPLICATE)
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


def paste(rgb: np.ndarray, crop: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """`rgb` with `crop` resized back into `box` (clipped to the image)."""
    x, y, w, h = box
    patch = cv2.resize(crop, (w, h), interpolation=cv2.INTER_CUBIC)
    out = rgb.copy()
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, rgb.shape[1]), min(y + h, rgb.shape[0])
    out[y0:y1, x0:x1] = patch[y0 - y:y1 - y, x0 - x:x1 - x]
    return out


def _box(text: str, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """--crop's box; at least MIN_CROP_INSIDE of it must lie inside the (H, W) image."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise DemoError(f"--crop must be X,Y,W,H in pixels. Received: {text!r}") from None
    if w <= 0 or h <= 0:
        raise DemoError(f"--crop needs a positive width and height. Received: {text!r}")
    height, width = shape[:2]
    if not (-w < x < width and -h < y < height):
        raise DemoError(f"--crop {text} lies outside the {width}×{height} image.")
    inside = (min(x + w, width) - max(x, 0)) * (min(y + h, height) - max(y, 0)) / (w * h)
    if inside < MIN_CROP_INSIDE:
        raise DemoError(f"--crop {text}: only {inside:.1%} of the box lies inside the "
                        f"{width}×{height} image; at least {MIN_CROP_INSIDE:.0%} must. Give "
                        "the face's box, grown by about a quarter on each side.")
    return x, y, w, h


def _check_out(out: Path, image: Path, overwrite: bool) -> None:
    """Refuses an --out that would fail or destroy something, before the model runs.

    An extension OpenCV cannot encode used to fail only after the edit, with OpenCV's
    traceback. An existing file is replaced only with --overwrite, and the --image
    itself never: a typo would otherwise lose the photo.

    Raises:
        DemoError: saying which of these it is.
    """
    if out.is_dir():
        raise DemoError(f"--out {out} is a folder; give an image file, e.g. {out / 'edited.png'}.")
    try:
        writable = bool(out.suffix) and cv2.haveImageWriter(str(out))
    except cv2.error:  # a known codec left out of this OpenCV build (.exr)
        writable = False
    if not writable:
        kind = f"{out.suffix} files" if out.suffix else "a name without an extension"
        raise DemoError(f"--out {out}: OpenCV cannot write {kind}; use .png or .jpg.")
    if not out.parent.is_dir():
        raise DemoError(f"--out {out}: the folder {out.parent} does not exist.")
    if out.exists() and image.exists() and os.path.samefile(out, image):
        raise DemoError(f"--out {out} is the --image; write the edit to another file.")
    if out.exists() and not overwrite:
        raise DemoError(f"--out {out} exists; pass --overwrite to replace it.")


def _write_image(out: Path, rgb: np.ndarray) -> None:
    """Writes `rgb` to `out` atomically: encoded first, then a hidden file renamed onto it.

    So a failed or interrupted write never leaves a truncated image, nor half of the
    one it was replacing.
    """
    try:
        ok, encoded = cv2.imencode(out.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    except cv2.error:
        ok = False
    if not ok:
        raise DemoError(f"--out {out}: OpenCV cannot encode this image as "
                        f"{out.suffix or 'a file without an extension'}; use .png or .jpg.")
    partial = out.with_name(f".partial-{uuid.uuid4().hex[:8]}-{out.name}")
    try:
        partial.write_bytes(encoded.tobytes())
        os.replace(partial, out)
    except OSError as error:
        raise DemoError(f"--out {out}: cannot write it ({error.strerror}).") from None
    finally:
        partial.unlink(missing_ok=True)


def _positive_int(text: str) -> int:
    """argparse type for --threads (≥ 1), a usage error at once.

    LiteRT refuses 0 threads only when it loads the model, which read as a broken model.
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer ≥ 1, received {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, received {value}")
    return value


def run(args: argparse.Namespace) -> Path:
    """Edits the photo as `main`'s arguments say and writes it; returns the --out path."""
    out = Path(args.out)
    _check_out(out, Path(args.image), args.overwrite)
    editor = TFLiteEditor(args.model, threads=args.threads)
    bgr = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DemoError(f"--image {args.image}: not a readable image file.")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    box = _box(args.crop, rgb.shape) if args.crop else detect_face(rgb)
    crop = crop_square(rgb, box, editor.image_size)
    source = editor.parse_aus(args.source_aus) if args.source_aus else editor.estimate_aus(crop)
    target = editor.expression(args.expression) if args.expression else source.copy()
    if args.aus:
        target = editor.parse_aus(args.aus, base=target)
    maps = editor.edit(crop, target, source)
    if args.maps:
        mask = np.repeat(maps["mask"][..., None], 3, axis=-1)
        result = np.concatenate([crop, maps["deformed"], mask, maps["edited"]], axis=1)
    else:
        result = paste(rgb, maps["edited"], box)
    _write_image(out, result)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mobile_demo.run_tflite",
        description="Edit the expression of a face with an exported DefGAN .tflite "
                    "(ai-edge-litert + OpenCV only).")
    parser.add_argument("--model", required=True, help=".tflite file (sidecar .json beside it)")
    parser.add_argument("--image", required=True, help="photo to edit")
    parser.add_argument("--out", required=True, help="image to write (.png, .jpg); never "
                                                     "the --image itself")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--expression", help="a preset from the sidecar (happy, sad, ...)")
    parser.add_argument("--aus", help="target AUs, e.g. AU12=0.8,AU25=0.5 (on top of "
                                      "--expression, else of the source AUs)")
    parser.add_argument("--source-aus", help="source AUs like --aus (default: estimated)")
    parser.add_argument("--crop", help="face box X,Y,W,H in pixels, at least a quarter of it "
                                       "inside the photo (--crop=-8,... for a negative X; "
                                       "default: OpenCV detector)")
    parser.add_argument("--maps", action="store_true",
                        help="write input | deformed | mask | edited crops instead of the photo")
    parser.add_argument("--threads", type=_positive_int, default=2,
                        help="LiteRT CPU threads (≥ 1)")
    args = parser.parse_args(argv)
    try:
        out = run(args)
    except DemoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
