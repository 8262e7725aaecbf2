"""Drawing at supersampled resolution: anti-aliased shapes, strokes and layer blending."""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from defgan_tf.data.synthetic.geometry import apply_affine, pose_matrix
from defgan_tf.data.synthetic.identity import Identity

SUPERSAMPLE = 2
SHIFT = 4  # cv2 fixed-point bits: sub-pixel vertices for LINE_AA drawing


def fixed(points: np.ndarray, origin=0.0) -> np.ndarray:
    """Pixel points relative to `origin` as cv2's fixed-point int32 vertices (SHIFT bits)."""
    return np.round((points - origin) * (1 << SHIFT)).astype(np.int32)


def _roi(points: np.ndarray, n: int, pad: float) -> tuple[slice, slice, np.ndarray] | None:
    """Rows, columns and (x, y) origin of the clipped bounding box of points, padded."""
    (x_lo, y_lo), (x_hi, y_hi) = points.min(0), points.max(0)
    x0, y0 = max(math.floor(x_lo - pad), 0), max(math.floor(y_lo - pad), 0)
    x1, y1 = min(math.ceil(x_hi + pad) + 1, n), min(math.ceil(y_hi + pad) + 1, n)
    if x1 <= x0 or y1 <= y0:
        return None
    return slice(y0, y1), slice(x0, x1), np.array([x0, y0], float)


def rgb(colour) -> tuple[float, float, float]:
    """A colour as the clipped float tuple cv2's drawing functions take."""
    return tuple(min(max(float(c), 0.0), 255.0) for c in colour)


class Canvas:
    """An RGB uint8 image at supersampled resolution plus the face's canonical-to-pixel map.

    Flat-coloured shapes are drawn straight into it with cv2's anti-aliasing (blended
    with `cv2.addWeighted` when translucent); layers (lit skin, hair, eyes) are blended
    in through an anti-aliased coverage mask with `cv2.blendLinear`.
    """

    def __init__(self, ident: Identity, size: int):
        self.n = size * SUPERSAMPLE
        self.matrix = pose_matrix(ident, self.n)
        self.unit = ident.scale * self.n  # pixels per canonical unit
        self.image = np.zeros((self.n, self.n, 3), np.uint8)

    def px(self, points) -> np.ndarray:
        return apply_affine(self.matrix, np.asarray(points, np.float64))

    def draw(self, polygons=(), lines=(), colour=(0, 0, 0), width: float = 0.0,
             alpha: float = 1.0) -> None:
        """Fills `polygons` and strokes `lines` (pixel coords) in one colour.

        Args:
            polygons, lines: lists of (N, 2) pixel-coordinate arrays.
            colour: RGB.
            width: line width in canonical units.
            alpha: opacity.
        """
        thickness = max(1, round(width * self.unit))
        roi = _roi(np.vstack([*polygons, *lines]), self.n, thickness + 2)
        if roi is None:
            return
        ys, xs, origin = roi
        view = self.image[ys, xs]
        target = view if alpha >= 1 else view.copy()
        if polygons:
            cv2.fillPoly(target, [fixed(p, origin) for p in polygons], rgb(colour),
                         cv2.LINE_AA, SHIFT)
        if lines:
            same = all(len(p) == len(lines[0]) for p in lines)
            vertices = list(fixed(np.stack(lines), origin)) if same else [
                fixed(p, origin) for p in lines]
            cv2.polylines(target, vertices, False, rgb(colour), thickness, cv2.LINE_AA, SHIFT)
        if alpha < 1:
            cv2.addWeighted(view, 1 - alpha, target, alpha, 0, dst=view)

    def fill(self, points, colour, alpha: float = 1.0) -> None:
        """Fills one canonical polygon."""
        self.draw([self.px(points)], (), colour, 0.0, alpha)

    def stroke(self, lines, colour, width: float, alpha: float = 1.0) -> None:
        """Draws canonical polylines (a list, or an (L, K, 2) array) `width` units thick."""
        pixels = (list(self.px(lines)) if isinstance(lines, np.ndarray)
                  else [self.px(p) for p in lines])
        self.draw((), pixels, colour, width, alpha)

    def window(self, polygon: np.ndarray) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
        """Rows, columns, origin and float32 AA coverage (h, w) of a pixel polygon."""
        roi = _roi(polygon, self.n, 2)
        if roi is None:
            return None
        ys, xs, origin = roi
        mask = np.zeros((ys.stop - ys.start, xs.stop - xs.start), np.uint8)
        cv2.fillPoly(mask, [fixed(polygon, origin)], 255, cv2.LINE_AA, SHIFT)
        return ys, xs, origin, mask.astype(np.float32) * np.float32(1 / 255)

    def blend(self, ys: slice, xs: slice, layer: np.ndarray, coverage: np.ndarray) -> None:
        """Blends a uint8 (h, w, 3) `layer` into rows `ys`, columns `xs` with `coverage`."""
        view = self.image[ys, xs]
        cv2.blendLinear(view, layer, 1 - coverage, coverage, dst=view)

    def composite(self, polygon, layer: np.ndarray, alpha: float = 1.0) -> None:
        """Blends the part of a full-size uint8 `layer` inside a canonical polygon."""
        win = self.window(self.px(polygon))
        if win is not None:
            ys, xs, _, coverage = win
            self.blend(ys, xs, np.ascontiguousarray(layer[ys, xs]), alpha * coverage)

    def textured(self, polygon, base, strokes, alpha: float = 1.0) -> None:
        """Fills `polygon` with `base`, overdrawn with strokes, clipped to the polygon.

        Args:
            polygon: (N, 2) canonical outline.
            base: RGB fill.
            strokes: [(lines (L, K, 2) canonical polylines, RGB, width canonical)].
            alpha: opacity of the whole patch.
        """
        win = self.window(self.px(polygon))
        if win is None:
            return
        ys, xs, origin, coverage = win
        layer = np.empty((*coverage.shape, 3), np.uint8)
        layer[:] = np.rint(np.clip(base, 0, 255)).astype(np.uint8)
        for lines, colour, width in strokes:
            cv2.polylines(layer, list(fixed(self.px(lines), origin)), False, rgb(colour),
                          max(1, round(width * self.unit)), cv2.LINE_AA, SHIFT)
        self.blend(ys, xs, layer, alpha * coverage)


@functools.lru_cache(maxsize=8)
def _circle(count: int) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, count, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], -1)


def ellipse(centre, axes, angle: float = 0.0, count: int = 40) -> np.ndarray:
    """(count, 2) outline of an ellipse with semi-axes `axes`, rotated by `angle` radians."""
    pts = _circle(count) * np.asarray(axes, float)
    c, s = np.cos(angle), np.sin(angle)
    return pts @ np.array([[c, s], [-s, c]]) + centre


def strands(rng, count: int, start_box, direction: float, spread: float, length, bend: float):
    """Random curved strokes (canonical polylines) for hair and beard texture."""
    starts = rng.uniform(start_box[0], start_box[1], (count, 2))
    angles = direction + rng.uniform(-spread, spread, count)
    lengths = rng.uniform(length[0], length[1], count)
    curls = rng.uniform(-bend, bend, count)
    t = np.linspace(0, 1, 5)[None, :]
    ang = angles[:, None] + curls[:, None] * t
    step = lengths[:, None] / 4
    dx = np.cumsum(np.cos(ang) * step, 1) - np.cos(ang[:, :1]) * step
    dy = np.cumsum(np.sin(ang) * step, 1) - np.sin(ang[:, :1]) * step
    return np.stack([starts[:, :1] + dx, starts[:, 1:] + dy], -1)


def shade(base, factor: float) -> np.ndarray:
    """A colour darkened (factor < 1) or lightened (> 1), clipped to 0-255."""
    return np.clip(np.asarray(base, np.float32) * factor, 0, 255)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Rounds and clips a float image to uint8."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def smooth_layer(n: int, paint, dtype=np.float32) -> np.ndarray:
    """A smooth (n, n, 3) layer painted at 1/8 resolution by `paint(x, y)` and upsampled.

    With dtype uint8 the small layer is rounded first, so the upsampling stays cheap.
    """
    low = max(8, n // 8)
    grid = ((np.arange(low, dtype=np.float32) + 0.5) / low)
    small = paint(grid[None, :], grid[:, None]).astype(np.float32)
    if dtype == np.uint8:
        small = to_uint8(small)
    return cv2.resize(small, (n, n), interpolation=cv2.INTER_LINEAR)
