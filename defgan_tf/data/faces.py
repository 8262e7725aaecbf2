"""Face detection, 5-point alignment, cropping and seamless paste-back of edited crops.

One crop convention serves both sides of the model: `prepare_face_crops` (training
data) and the editor (`defgan_tf.editing`) call the same `alignment_matrix`, so a
face is edited in exactly the frame the model was trained on.

Convention: dlib's `get_face_chip_details` for 5-point shapes. Its mean-face
template (`FIVE_POINT_TEMPLATE`, unit square, order: right eye outer corner,
right eye inner, left eye outer, left eye inner, nose base — the order of dlib's
`shape_predictor_5_face_landmarks`) is padded by `padding` on every side,
`p' = (padding + p) / (1 + 2 · padding)`, scaled to the crop size, and the
least-squares similarity transform (Umeyama) from the template to the detected
landmarks is inverted. Template coordinates are continuous (0 = left edge of the
first pixel), as in dlib, so our crops match `dlib.get_face_chip` to within
interpolation noise (tested). `CROP_PADDING = 0.25` (dlib's Python default) shows
the whole face from the top of the forehead to below the chin with some hair,
close to GANimation's 128² EmotioNet crops.

Detectors: dlib's HOG detector (default) or its CNN (MMOD) detector, with the
model files of `face-recognition-models` (the `faces` extra; read from its folder,
not imported, because its `__init__` needs the removed `pkg_resources`). Without dlib, OpenCV's
Haar cascade finds the box and the 5 landmarks are *estimated* from the box
(`HAAR_BOX_TO_FIVE_POINTS`, measured on the astronaut photograph in scikit-image),
so alignment is coarser and the paste-back mask is an ellipse.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import logging
import pathlib
from collections.abc import Sequence

import cv2
import numpy as np

from defgan_tf.config import did_you_mean
from defgan_tf.data.media import IMAGE_SUFFIXES, ImageReadError, read_image, write_image
from defgan_tf.dlib_models import model_folder, model_path

logger = logging.getLogger(__name__)

DETECTORS = ("hog", "cnn", "haar")
CROP_PADDING = 0.25
# dlib `get_face_chip_details` template for 5-point shapes, unit square, (x, y).
FIVE_POINT_TEMPLATE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)
# The 5 landmarks as fractions of a Haar box (x0, y0, w, h); used only without dlib.
HAAR_BOX_TO_FIVE_POINTS = np.array(
    [[0.82, 0.40], [0.64, 0.41], [0.19, 0.37], [0.37, 0.39], [0.50, 0.73]]
)
# HOG detections scoring below this are dropped (the astronaut's mission patch scores
# 0.12 at upsample 1, her face 1.16).
HOG_MIN_SCORE = 0.3
# Photos are searched for faces at this longest side at most (see detect_faces).
DETECTION_MAX_SIDE = 1280
# Faces whose detected box is smaller than this (pixels, shorter side) are refused by
# the editor: below it the crop is mostly upsampling blur.
MIN_FACE_SIZE = 40
# Ellipse used as the paste-back mask when no 68-point landmarks exist, in unpadded
# template units: centre (x, y) and semi-axes (x, y).
_ELLIPSE_TEMPLATE = ((0.49, 0.50), (0.56, 0.64))
# 68-point indices of the eyebrows; they are raised to include the forehead in the mask.
_BROWS = slice(17, 27)
_NOSE_TIP = 30


class FaceError(ValueError):
    """A face could not be found, was too small, or an option was invalid."""


@dataclasses.dataclass(frozen=True)
class Face:
    """One detected face in photo coordinates.

    Attributes:
        box: (x0, y0, x1, y1) integer pixel box, x1/y1 exclusive.
        score: detector confidence (HOG/CNN score; 1.0 for Haar).
        landmarks5: (5, 2) float64 (x, y) in dlib's 5-point order.
        landmarks68: (68, 2) float64 (x, y) in iBUG order, or None without dlib.
        detector: the detector that found the face.
    """

    box: tuple[int, int, int, int]
    score: float
    landmarks5: np.ndarray
    landmarks68: np.ndarray | None
    detector: str

    @property
    def size(self) -> int:
        """Shorter side of the box in pixels."""
        return min(self.box[2] - self.box[0], self.box[3] - self.box[1])


def _check_detector(detector: str) -> None:
    if detector not in DETECTORS:
        raise FaceError(f"Unknown detector {detector!r}; valid: {', '.join(DETECTORS)}."
                        f"{did_you_mean(detector, DETECTORS)}")


@functools.cache
def _dlib_models() -> dict:
    """Loads dlib and the model paths lazily; empty dict when the `faces` extra is absent."""
    try:
        import dlib
    except ImportError:
        return {}
    if model_folder() is None:
        return {}
    paths = {name: str(model_path(name)) for name in ("five", "sixty_eight", "cnn")}
    return {"dlib": dlib, "hog": dlib.get_frontal_face_detector(),
            "five": dlib.shape_predictor(paths["five"]), "paths": paths}


@functools.cache
def _dlib_model(name: str):
    """The slow-to-load dlib models (68-point predictor, CNN detector), loaded on first use."""
    models = _dlib_models()
    dlib, path = models["dlib"], models["paths"][name]
    if name == "sixty_eight":
        return dlib.shape_predictor(path)
    return dlib.cnn_face_detection_model_v1(path)


@functools.cache
def _haar_cascade() -> cv2.CascadeClassifier:
    path = pathlib.Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    return cv2.CascadeClassifier(str(path))


def has_dlib() -> bool:
    """Whether dlib and the `face-recognition-models` files are installed."""
    return bool(_dlib_models())


def _detect_boxes(image: np.ndarray, detector: str, upsample: int) -> list[tuple]:
    """(x0, y0, x1, y1, score) boxes, clipped to the image."""
    models = _dlib_models()
    if detector == "hog":
        rects, scores, _ = models["hog"].run(image, upsample, 0.0)
        found = [(r, s) for r, s in zip(rects, scores) if s >= HOG_MIN_SCORE]
    elif detector == "cnn":
        found = [(d.rect, d.confidence) for d in _dlib_model("cnn")(image, upsample)]
    else:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        min_side = max(MIN_FACE_SIZE // 2, 20)
        boxes = _haar_cascade().detectMultiScale(gray, 1.1, 5, minSize=(min_side, min_side))
        return [(int(x), int(y), int(x + w), int(y + h), 1.0) for x, y, w, h in boxes]
    height, width = image.shape[:2]
    return [
        (max(r.left(), 0), max(r.top(), 0), min(r.right() + 1, width),
         min(r.bottom() + 1, height), float(s))
        for r, s in found
    ]


def detect_faces(image: np.ndarray, detector: str = "hog", upsample: int = 1,
                 max_side: int = DETECTION_MAX_SIDE) -> list[Face]:
    """Finds faces and their landmarks, largest first.

    Photos larger than `max_side` are searched at reduced size (detectors scan every
    position, so a 24-megapixel photo would take minutes); the landmarks are then
    fitted on the full-resolution photo inside the scaled-back boxes.

    Args:
        image: (H, W, 3) uint8 RGB photo.
        detector: "hog" (dlib, default), "cnn" (dlib MMOD, slower, finds more poses) or
            "haar" (OpenCV). Without dlib every detector falls back to "haar" with a
            warning and the landmarks are estimated from the box.
        upsample: times dlib upsamples the image before detecting (1 finds faces down
            to about 40 px). Ignored by Haar.
        max_side: longest side (pixels) at which boxes are searched.

    Returns:
        The faces sorted by box area, largest first; empty when none is found.
    """
    _check_detector(detector)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise FaceError(
            f"detect_faces expects an (H, W, 3) uint8 RGB image; received shape "
            f"{image.shape} dtype {image.dtype}."
        )
    models = _dlib_models()
    if not models and detector != "haar":
        logger.warning(
            "dlib or the face-recognition-models files are not installed (pip install "
            "'defgan-tf[faces]'); using OpenCV's Haar cascade with landmarks estimated from "
            "the face box: alignment is coarser."
        )
        detector = "haar"
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    # max(1, ·): a 1×3000 strip scales to a 0-pixel side, which cv2.resize refuses
    search = image if scale == 1.0 else cv2.resize(
        image, (max(1, round(width * scale)), max(1, round(height * scale))),
        interpolation=cv2.INTER_AREA)
    faces = []
    for box in _detect_boxes(search, detector, upsample):
        x0, y0, x1, y1 = (min(round(v / scale), limit)
                          for v, limit in zip(box[:4], (width, height, width, height)))
        score = box[4]
        if models:
            rect = models["dlib"].rectangle(x0, y0, x1 - 1, y1 - 1)
            five = _shape_points(models["five"](image, rect))
            sixty_eight = _shape_points(_dlib_model("sixty_eight")(image, rect))
        else:
            five = np.array([x0, y0]) + HAAR_BOX_TO_FIVE_POINTS * np.array([x1 - x0, y1 - y0])
            sixty_eight = None
        faces.append(Face((x0, y0, x1, y1), score, five, sixty_eight, detector))
    return sorted(faces, key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


def _shape_points(shape) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) src → dst (Umeyama 1991).

    Args:
        src, dst: (N, 2) corresponding points.

    Returns:
        (2, 3) float64 affine matrix.
    """
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    u, sigma, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt))])
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(sigma) @ sign) / (src_c**2).sum(1).mean()
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]])


def template_points(size: int, padding: float = CROP_PADDING) -> np.ndarray:
    """Where the 5 landmarks of the mean face land in a size×size crop.

    Args:
        size: crop side in pixels.
        padding: fraction of the template's extent added on every side.

    Returns:
        (5, 2) float64 (x, y) in OpenCV pixel coordinates (pixel centres at integers).
    """
    return (padding + FIVE_POINT_TEMPLATE) / (1 + 2 * padding) * size - 0.5


def alignment_matrix(
    landmarks5: np.ndarray, size: int, padding: float = CROP_PADDING
) -> np.ndarray:
    """The similarity transform taking the photo to the aligned size×size face crop.

    Fits template → photo as dlib does and inverts it, so crops equal dlib's
    `get_face_chip(image, shape, size, padding)`.

    Args:
        landmarks5: (5, 2) photo coordinates (x, y) in dlib's 5-point order.
        size: crop side in pixels (the model's image size).
        padding: see `CROP_PADDING`.

    Returns:
        (2, 3) float64 matrix M with crop_xy = M @ (x, y, 1).
    """
    landmarks5 = np.asarray(landmarks5, dtype=np.float64)
    if landmarks5.shape != (5, 2):
        raise FaceError(f"alignment needs (5, 2) landmarks; received shape {landmarks5.shape}.")
    to_photo = _similarity(template_points(size, padding), landmarks5)
    return cv2.invertAffineTransform(to_photo)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Applies a (2, 3) affine matrix to (N, 2) points."""
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def crop_face(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Cuts the aligned face out of the photo.

    Large downscales go through an image pyramid first (as dlib's chip extractor
    does) so a face filling a 4000-px photo is not aliased into the crop. Pixels
    beyond the photo's border repeat the border.

    Args:
        image: (H, W, C) photo, any dtype OpenCV warps (uint8 here).
        matrix: (2, 3) photo → crop from `alignment_matrix`.
        size: crop side in pixels.

    Returns:
        (size, size, C) crop, same dtype as the image.
    """
    matrix = np.asarray(matrix, np.float64).copy()
    while np.sqrt(abs(np.linalg.det(matrix[:, :2]))) < 0.5 and min(image.shape[:2]) > 2:
        # pyrDown's output pixel i is centred on input pixel 2i.
        image = cv2.pyrDown(image)
        matrix[:, :2] *= 2.0
    return cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def face_mask(
    size: int,
    landmarks68_crop: np.ndarray | None = None,
    padding: float = CROP_PADDING,
    feather: float | None = None,
) -> np.ndarray:
    """Feathered mask of the face region in crop coordinates (where an edit may land).

    With 68 landmarks it is their convex hull with the eyebrows raised by 40% of the
    brow-to-nose-tip distance, so brow raises and forehead wrinkles (AU01/02/04) are
    inside; without them a fixed ellipse around the template face. The region is
    eroded by 2·feather and blurred with a Gaussian of sigma = feather, so the mask
    reaches 0 near the region's edge and stays 0 at the crop border; values below
    1/512 are set to exactly 0 so the pixels they cover are never touched.

    Args:
        size: crop side in pixels.
        landmarks68_crop: (68, 2) landmarks in crop coordinates, or None.
        padding: the crop padding (places the ellipse).
        feather: Gaussian sigma in crop pixels; default size / 40.

    Returns:
        (size, size) float32 in [0, 1].
    """
    feather = size / 40 if feather is None else feather
    region = np.zeros((size, size), np.uint8)
    if landmarks68_crop is not None:
        points = np.asarray(landmarks68_crop, np.float64).copy()
        lift = 0.4 * (points[_NOSE_TIP, 1] - points[_BROWS, 1].mean())
        raised = points[_BROWS] - np.array([0.0, lift])
        hull = cv2.convexHull(np.vstack([points, raised]).astype(np.float32))
        cv2.fillConvexPoly(region, np.round(hull).astype(np.int32), 1)
    else:
        (cx, cy), (ax, ay) = _ELLIPSE_TEMPLATE
        scale = size / (1 + 2 * padding)
        centre = ((padding + cx) * scale - 0.5, (padding + cy) * scale - 0.5)
        cv2.ellipse(region, (centre, (2 * ax * scale, 2 * ay * scale), 0.0), 1, -1)
    border = np.zeros_like(region)
    border[1:-1, 1:-1] = 1
    region &= border
    radius = max(round(2 * feather), 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    mask = cv2.erode(region, kernel).astype(np.float32)
    if feather > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), feather, borderType=cv2.BORDER_CONSTANT)
    mask[mask < 1 / 512] = 0.0
    return mask


def paste_back(
    image: np.ndarray,
    edited_crop: np.ndarray,
    matrix: np.ndarray,
    mask_crop: np.ndarray,
    color_match: bool = True,
) -> np.ndarray:
    """Warps an edited crop back into the photo and blends it in with a feathered mask.

    Only pixels where the warped mask is non-zero change; every other pixel is
    bit-identical to `image`. With `color_match`, the edited face is shifted by the
    difference of mean colours (original − edited) over the seam ring (0.05 <
    mask < 0.95) before blending, which hides a global tint the model may add.

    Args:
        image: (H, W, 3) uint8 photo.
        edited_crop: (S, S, 3) uint8 edited crop.
        matrix: (2, 3) photo → crop matrix the crop was cut with.
        mask_crop: (S, S) float in [0, 1] from `face_mask`.
        color_match: shift the edited face's colour to the original's at the seam.

    Returns:
        (H, W, 3) uint8, a new array.
    """
    height, width = image.shape[:2]
    size = edited_crop.shape[0]
    to_photo = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    corners = transform_points(np.array([[0, 0], [size, 0], [0, size], [size, size]]), to_photo)
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 2, [width, height])
    result = image.copy()
    if x1 <= x0 or y1 <= y0:
        return result
    to_roi = to_photo.copy()
    to_roi[:, 2] -= (x0, y0)
    roi_size = (int(x1 - x0), int(y1 - y0))
    alpha = cv2.warpAffine(
        mask_crop.astype(np.float32), to_roi, roi_size, flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )
    edited = cv2.warpAffine(
        edited_crop.astype(np.float32), to_roi, roi_size, flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    original = image[y0:y1, x0:x1].astype(np.float32)
    if color_match:
        ring = (alpha > 0.05) & (alpha < 0.95)
        if ring.any():
            edited = edited + (original[ring].mean(0) - edited[ring].mean(0))
    alpha = alpha[..., None]
    blended = np.clip(np.rint(alpha * edited + (1 - alpha) * original), 0, 255).astype(np.uint8)
    inside = alpha[..., 0] > 0
    result[y0:y1, x0:x1][inside] = blended[inside]
    return result


@dataclasses.dataclass
class FaceCropReport:
    """What `prepare_face_crops` did.

    Attributes:
        written: paths of the crops written.
        unreadable: (path, reason) for files that could not be decoded.
        no_face: images in which no face was found.
    """

    written: list[pathlib.Path] = dataclasses.field(default_factory=list)
    unreadable: list[tuple[pathlib.Path, str]] = dataclasses.field(default_factory=list)
    no_face: list[pathlib.Path] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        """Human-readable multi-line summary for the command line."""
        lines = [
            f"{len(self.written)} face crops written; {len(self.unreadable)} unreadable "
            f"files, {len(self.no_face)} images without a face."
        ]
        lines += [f"  unreadable: {path}: {reason}" for path, reason in self.unreadable]
        lines += [f"  no face: {path}" for path in self.no_face]
        return "\n".join(lines)


def _crop_names(photos: Sequence[pathlib.Path]) -> dict[pathlib.Path, str]:
    """The name each photo's crops start with: its stem, or `<stem>_<suffix>` on a clash.

    portrait.png and portrait.jpg in one folder would otherwise write the same crops, the
    second overwriting the first. `<stem>_<suffix>` is unique in a folder (suffixes hold no
    "_"); the plain stem is kept when no other photo's stem or `<stem>_<suffix>` equals it
    (ignoring case, for case-insensitive disks), so a re-run over an earlier output folder
    rewrites the same files rather than adding copies.

    Args:
        photos: image files; only photos in the same folder can clash.

    Returns:
        photo → name.
    """
    long = {photo: f"{photo.stem}_{photo.suffix[1:]}" for photo in photos}
    taken = collections.Counter((photo.parent, photo.stem.lower()) for photo in photos)
    taken.update((photo.parent, name.lower()) for photo, name in long.items())
    return {photo: photo.stem if taken[photo.parent, photo.stem.lower()] == 1 else long[photo]
            for photo in photos}


def prepare_face_crops(
    in_dir: str | pathlib.Path,
    out_dir: str | pathlib.Path,
    size: int,
    detector: str = "hog",
    padding: float = CROP_PADDING,
    suffixes: Sequence[str] = IMAGE_SUFFIXES,
) -> FaceCropReport:
    """Detects, aligns and crops every face of every image under a folder (training data).

    Crops go to `out_dir/<relative folder>/<stem>_face<k>.png` (k = 0 for the largest
    face; `<stem>_<suffix>_face<k>.png` where photos share a stem, see `_crop_names`),
    with the same `alignment_matrix` the editor uses to paste edits back. Each crop is
    written whole or not at all. Unreadable files and images without a face are skipped
    and listed in the report.

    Args:
        in_dir: folder searched recursively for images (by suffix).
        out_dir: output folder, created if needed.
        size: crop side in pixels (the training `data.image_size`).
        detector: see `detect_faces`.
        padding: see `CROP_PADDING`.
        suffixes: lower-case file suffixes treated as images.

    Returns:
        A `FaceCropReport`.
    """
    _check_detector(detector)
    in_dir, out_dir = pathlib.Path(in_dir), pathlib.Path(out_dir)
    if not in_dir.is_dir():
        raise FaceError(f"Input folder {str(in_dir)!r} does not exist or is not a folder.")
    report = FaceCropReport()
    paths = sorted(p for p in in_dir.rglob("*") if p.suffix.lower() in suffixes)
    names = _crop_names(paths)
    for path in paths:
        try:
            image = read_image(path)
        except ImageReadError as error:
            report.unreadable.append((path, str(error)))
            continue
        faces = detect_faces(image, detector)
        if not faces:
            report.no_face.append(path)
            continue
        target = out_dir / path.relative_to(in_dir).parent
        for k, face in enumerate(faces):
            crop = crop_face(image, alignment_matrix(face.landmarks5, size, padding), size)
            out_path = target / f"{names[path]}_face{k}.png"
            write_image(out_path, crop)
            report.written.append(out_path)
    return report
