"""Expression texture that no warp of the neutral face can make.

Wrinkles and cheek shading are painted once per face as signed shading maps in neutral
coordinates (faded in by each AU's region window), then warped with the expression's
flow. Closing eyelids and the open mouth (its dark interior and teeth) depend on the
deformed geometry and are drawn per expression. All of it stays inside the regions of
the active AUs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from defgan_tf.aus import NUM_AUS, au_index
from defgan_tf.data.synthetic.canvas import SHIFT, fixed
from defgan_tf.data.synthetic.geometry import Geometry, apply_affine, smooth_curve, vec
from defgan_tf.data.synthetic.identity import Identity
from defgan_tf.data.synthetic.motion import Patch

MOUTH_DARK = np.array([34.0, 9.0, 12.0], np.float32)
TEETH = np.array([238.0, 233.0, 218.0], np.float32)
# A stretched lip thins: it loses LIP_THINNING of its stretch, down to MIN_LIP of its
# neutral thickness; the rest of the stretch is the mouth opening.
LIP_THINNING = 0.5
MIN_LIP = 0.6


def _arc(a, b, sag: float, count: int = 8) -> np.ndarray:
    """Canonical polyline from a to b bulging by `sag` perpendicular to the chord."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    t = np.linspace(0, 1, count)[:, None]
    normal = np.array([-(b - a)[1], (b - a)[0]]) / (np.linalg.norm(b - a) + 1e-9)
    return a + (b - a) * t + normal * sag * np.sin(np.pi * t)


def _wrinkle_features(ident: Identity, geom: Geometry) -> dict[str, list]:
    """Canonical polylines per texture: [(polyline, darkness (<0) or light (>0)), ...]."""
    lm, w, mw = geom.landmarks, ident.face_half_width, ident.mouth_half_width
    brow_y, ty, my = lm[17:27, 1].mean(), ident.nose_tip_y, ident.mouth_y
    forehead = [(_arc((0.5 - 0.13, brow_y - dy), (0.5 + 0.13, brow_y - dy), -0.006 - dy * 0.05,
                      14), -0.30) for dy in (0.03, 0.048, 0.066)]
    forehead += [(line + vec(0, 0.005), 0.15) for line, _ in forehead]
    glabella = [(_arc((0.5 + s * 0.013, brow_y - 0.006), (0.5 + s * 0.007, brow_y + 0.03),
                      s * 0.003), -0.35) for s in (-1, 1)]
    glabella += [(_arc((0.5 - 0.002, brow_y), (0.5 - 0.002, brow_y + 0.025), 0), 0.12)]
    nose = [(_arc((0.5 - 0.02, lm[27, 1] + dy), (0.5 + 0.02, lm[27, 1] + dy), 0.004), -0.3)
            for dy in (0.008, 0.02, 0.032)]
    crows, cheeks, folds, dimples, marionette, lids = [], [], [], [], [], []
    for side in (-1, 1):
        corner = lm[36] if side < 0 else lm[45]
        for angle in (-0.45, 0.0, 0.45):
            tip = corner + vec(side * 0.012 + side * 0.028 * np.cos(angle), 0.028 * np.sin(angle))
            crows.append((_arc(corner + vec(side * 0.012, 0), tip, 0.002, 5), -0.32))
        apple = np.array([0.5 + side * 0.5 * w, ty - 0.035])
        cheeks.append((apple, 0.07))
        lower = geom.lower_lids[0 if side < 0 else 1]
        cheeks.append((lower[2:-2] + vec(0, 0.012), -0.22))
        ala = lm[31 if side < 0 else 35]
        fold = smooth_curve(np.array([ala + vec(side * 0.012, -0.006),
                                      [0.5 + side * (mw + 0.012), my - 0.024],
                                      [0.5 + side * (mw + 0.022), my + 0.016]]), 5)
        folds += [(fold, -0.38), (fold + vec(side * 0.006, 0), 0.14)]
        mouth_corner = lm[48 if side < 0 else 54]
        dimples.append((_arc(mouth_corner + vec(side * 0.016, -0.01),
                             mouth_corner + vec(side * 0.016, 0.01), side * 0.004, 5), -0.35))
        marionette.append((_arc(mouth_corner + vec(side * 0.004, 0.006),
                                mouth_corner + vec(side * 0.012, 0.04), side * 0.004, 6), -0.3))
        lids.append((lower[2:-2] + vec(0, 0.006), -0.22))
    chin = [(_arc(lm[59] + vec(0, 0.012), lm[55] + vec(0, 0.012), 0.006), -0.3)]
    chin += [(np.array([p, p + vec(0.002, 0.001)]), -0.25) for p in
             lm[8] + np.array([[-0.02, -0.03], [0.0, -0.035], [0.018, -0.028], [-0.008, -0.02],
                               [0.01, -0.018], [-0.015, -0.01], [0.006, -0.008]])]
    return {"forehead": forehead, "glabella": glabella, "nose": nose, "crows": crows,
            "cheeks": cheeks, "folds": folds, "dimples": dimples, "marionette": marionette,
            "lids": lids, "chin": chin}


# Which texture each AU draws, and how strongly: (texture, AU, strength).
_TEXTURE_USE = (("forehead", "AU01", 1.0), ("forehead", "AU02", 0.8), ("glabella", "AU04", 1.0),
                ("nose", "AU09", 1.0), ("crows", "AU06", 1.0), ("cheeks", "AU06", 1.0),
                ("folds", "AU06", 0.5), ("folds", "AU12", 1.0), ("folds", "AU10", 0.4),
                ("dimples", "AU14", 1.0), ("marionette", "AU15", 1.0), ("lids", "AU07", 1.0),
                ("chin", "AU17", 1.0))


def texture_maps(ident: Identity, geom: Geometry, matrix: np.ndarray, size: int,
                 windows: list[Patch]) -> tuple[list[Patch], np.ndarray]:
    """Paints the per-AU shading maps of one face in neutral coordinates.

    Args:
        ident, geom: the face.
        matrix: (2, 3) canonical-to-pixel pose map at `size`.
        size: output side S.
        windows: the 17 region windows from `motion_basis`.

    Returns:
        maps: K `Patch`es of signed shading, (h, w) float32 each (the image is
            multiplied by 1 + shade), cut to the region of the AU that draws them;
        weights: (K, 17) float32, so that the shading of `aus` is `(weights @ aus) · maps`.
    """
    features = {name: [(apply_affine(matrix, points), value) for points, value in items]
                for name, items in _wrinkle_features(ident, geom).items()}
    maps, weights = [], np.zeros((len(_TEXTURE_USE), NUM_AUS), np.float32)
    for k, (name, au, strength) in enumerate(_TEXTURE_USE):
        win = windows[au_index(au)]
        shade = _paint_shading(features[name], size, win)
        maps.append(Patch(win.ys, win.xs, shade * win.values))
        weights[k, au_index(au)] = strength
    return maps, weights


def _paint_shading(items: list, size: int, where: Patch) -> np.ndarray:
    """Signed shading of one texture's lines and blobs (pixels), drawn inside `where`."""
    shape = where.values.shape[:2]
    origin = np.array([where.xs.start, where.ys.start], float)
    dark, light, blobs = (np.zeros(shape, np.uint8) for _ in range(3))
    thickness = max(1, round(size / 160))
    for points, value in items:
        level = round(abs(value) * 255)
        pixels = points - origin
        if points.ndim == 1:  # a soft highlight blob, given by its centre
            axes = np.array([0.04, 0.025]) * size
            cv2.ellipse(blobs, (int(pixels[0]), int(pixels[1])), (int(axes[0]), int(axes[1])),
                        0, 0, 360, level, -1)
        else:
            cv2.polylines(dark if value < 0 else light, [fixed(pixels)], False, level,
                          thickness, cv2.LINE_AA, SHIFT)
    shade = (light.astype(np.float32) - dark.astype(np.float32)) * np.float32(1 / 255)
    shade = cv2.GaussianBlur(shade, (0, 0), max(0.4, size / 256))
    if blobs.any():
        shade += cv2.GaussianBlur(blobs, (0, 0), 0.02 * size).astype(np.float32) / 255
    return shade


@dataclass(frozen=True)
class Allowed:
    """Where the active AUs may draw: the union of their regions, built per window.

    Attributes:
        regions: (17, S, S) bool AU regions.
        active: (17,) bool, the AUs of the expression.
    """

    regions: np.ndarray
    active: np.ndarray

    def crop(self, ys: slice, xs: slice) -> np.ndarray:
        """(h, w) float32 1 where texture may go inside rows `ys`, columns `xs`, else 0."""
        return self.regions[:, ys, xs][self.active].any(0).astype(np.float32)


class _Window:
    """The rectangle of an image around some points, with masks drawn in its coordinates.

    Per-expression texture touches a few hundred pixels; working on this view instead of
    the whole image keeps rendering fast.
    """

    def __init__(self, image: np.ndarray, points: np.ndarray, pad: int = 3):
        size = image.shape[0]
        lo = np.clip(np.floor(points.min(0)).astype(int) - pad, 0, size)
        hi = np.clip(np.ceil(points.max(0)).astype(int) + pad + 1, 0, size)
        self.empty = bool((hi <= lo).any())
        self.ys, self.xs = slice(lo[1], hi[1]), slice(lo[0], hi[0])
        self.origin = lo.astype(float)
        self.image = image[self.ys, self.xs]

    def crop(self, array: np.ndarray) -> np.ndarray:
        return array[self.ys, self.xs]

    def _canvas(self) -> np.ndarray:
        return np.zeros(self.image.shape[:2], np.uint8)

    def fill(self, *polygons: np.ndarray) -> np.ndarray:
        """AA coverage in [0, 1] of pixel-coordinate polygons, (h, w) float32."""
        canvas = self._canvas()
        cv2.fillPoly(canvas, [fixed(p, self.origin) for p in polygons], 255, cv2.LINE_AA,
                     SHIFT)
        return canvas * np.float32(1 / 255)

    def lines(self, lines: list[np.ndarray], thickness: int) -> np.ndarray:
        """AA coverage in [0, 1] of pixel-coordinate polylines, (h, w) float32."""
        canvas = self._canvas()
        cv2.polylines(canvas, [fixed(p, self.origin) for p in lines], False, 255, thickness,
                      cv2.LINE_AA, SHIFT)
        return canvas * np.float32(1 / 255)

    def paint(self, colour, alpha: np.ndarray) -> None:
        """Blends `colour` (RGB, or a full-size image) into the view with (h, w) `alpha`."""
        col = self.crop(colour) if np.ndim(colour) == 3 else np.asarray(colour, np.float32)
        self.image += (col - self.image) * alpha[..., None]


def close_eyelids(image: np.ndarray, skin: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                  closure: float, allowed: Allowed, lash_colour) -> np.ndarray:
    """Draws the upper lid (skin) down to `closure` of the way to the lower lid (AU45).

    Args:
        image: (S, S, 3) float32, modified in place.
        skin: (S, S, 3) float32 lit skin colour.
        upper, lower: (2, K, 2) deformed lid curves per eye, pixels, same K samples.
        closure: in [0, 1]; 1 closes the eye.
        allowed: where the texture may go.
        lash_colour: RGB of the lash line drawn at the new lid edge.

    Returns:
        (2, K, 2) the new upper-lid edge.
    """
    edges = upper + (lower - upper) * closure
    size = image.shape[0]
    lift = np.array([0, 0.9 * size / 128])
    for k in range(2):
        lid = np.vstack([upper[k] - lift, edges[k][::-1]])
        window = _Window(image, lid)
        if window.empty:
            continue
        inside = allowed.crop(window.ys, window.xs)
        window.paint(skin, window.fill(lid) * inside)
        lash = window.lines([edges[k]], max(1, round(size / 110)))
        window.paint(lash_colour, lash * inside * min(1.0, 2 * closure))
    return edges


def open_mouth(image: np.ndarray, neutral_columns: np.ndarray, columns: np.ndarray,
               allowed: Allowed) -> tuple[np.ndarray, np.ndarray]:
    """Draws the mouth interior and teeth where the deformation has parted the lips.

    Along each column a lip keeps its neutral thickness, less `LIP_THINNING` of its
    stretch; whatever else the warp stretched is the opening.

    Args:
        image: (S, S, 3) float32, modified in place.
        neutral_columns: (3, C, 2) upper-lip edge, mouth line, lower-lip edge, neutral px.
        columns: the same points after the deformation.
        allowed: where the texture may go.

    Returns:
        upper_edge, lower_edge: (C, 2) the inner lip contours (landmarks 60-67 lie on them).
    """
    up, line, low = columns
    neutral_up, neutral_line, neutral_low = neutral_columns

    def inner_edge(outer, neutral_outer, neutral_inner):
        thick = np.linalg.norm(neutral_inner - neutral_outer, axis=-1)[:, None]
        span = np.linalg.norm(line - outer, axis=-1)[:, None] + 1e-6
        visible = np.clip(thick - LIP_THINNING * (span - thick), MIN_LIP * thick, span)
        return outer + (line - outer) * visible / span

    upper_edge = inner_edge(up, neutral_up, neutral_line)
    lower_edge = inner_edge(low, neutral_low, neutral_line)
    gap = lower_edge[:, 1] - upper_edge[:, 1]
    size = image.shape[0]
    opening = np.clip((gap.max() - 0.3 * size / 128) / (0.6 * size / 128), 0, 1)
    if opening <= 0:
        return upper_edge, lower_edge
    interior = smooth_curve(np.vstack([upper_edge, lower_edge[-2:0:-1]]), 3, closed=True)
    window = _Window(image, interior)
    if window.empty:
        return upper_edge, lower_edge
    inside = window.fill(interior) * allowed.crop(window.ys, window.xs) * opening
    window.paint(MOUTH_DARK, inside)
    teeth_h = 2.0 * size / 128
    down = np.minimum(0.45 * gap, teeth_h)[1:-1, None] * vec(0, 1)
    teeth = [np.vstack([upper_edge[1:-1], (upper_edge[1:-1] + down)[::-1]])]
    low_h = np.clip(0.5 * (gap - 2 * teeth_h), 0, 0.6 * teeth_h)[2:-2, None] * vec(0, 1)
    if low_h.max() > 0.2:
        teeth.append(np.vstack([lower_edge[2:-2], (lower_edge[2:-2] - low_h)[::-1]]))
    alpha = window.fill(*teeth) * inside
    window.paint(TEETH, alpha)
    tops = (upper_edge[2:-2] + upper_edge[3:-1]) / 2
    gaps = [np.stack([x, x + d]) for x, d in zip(tops, down[1:-1])]
    window.image *= (1 - 0.2 * window.lines(gaps, 1) * alpha)[..., None]
    return upper_edge, lower_edge
