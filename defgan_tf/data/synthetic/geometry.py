"""Face geometry in canonical units: 68 dlib-order landmarks, dense contours and the pose."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from defgan_tf.data.synthetic.identity import Identity

# dlib 68-point index groups.
JAW = np.arange(0, 17)
BROWS = np.arange(17, 27)
UPPER_LIDS = np.array([37, 38, 43, 44])
LOWER_LIDS = np.array([40, 41, 46, 47])
MOUTH_CORNERS = np.array([48, 54])
INNER_UPPER = np.array([61, 62, 63])
INNER_LOWER = np.array([67, 66, 65])


def vec(x: float, y: float) -> np.ndarray:
    """A 2-D offset (x, y) as an array, to add to points."""
    return np.array([x, y], np.float64)


def smooth_curve(points: np.ndarray, samples: int = 6, closed: bool = False) -> np.ndarray:
    """Catmull-Rom spline through `points` (N, 2), `samples` points per segment."""
    pts = np.asarray(points, np.float64)
    ext = (np.vstack([pts[-1:], pts, pts[:2]]) if closed
           else np.vstack([2 * pts[:1] - pts[1:2], pts, 2 * pts[-1:] - pts[-2:-1]]))
    segments = len(pts) if closed else len(pts) - 1
    p0, p1, p2, p3 = (ext[k:k + segments, None] for k in range(4))
    t = np.linspace(0.0, 1.0, samples, endpoint=False)[None, :, None]
    curve = 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t
                   + (3 * p1 - p0 - 3 * p2 + p3) * t ** 3)
    curve = curve.reshape(-1, 2)
    return curve if closed else np.vstack([curve, pts[-1:]])


@dataclass(frozen=True)
class Geometry:
    """Canonical-unit shapes of one neutral face (image spans [0, 1], before the pose).

    Attributes:
        landmarks: (68, 2) (x, y), dlib order.
        head: (N, 2) closed outline of forehead and jaw.
        eyes: two (M, 2) closed almond outlines, image-left eye first.
        upper_lids, lower_lids: two (K, 2) each, lid curves from left to right corner.
        brows: two (B, 2) closed brow outlines.
        upper_lip, lower_lip: closed lip outlines; `lip_line`: (L, 2) mouth line.
        mouth_columns: (3, C, 2) upper-lip outer edge, mouth line and lower-lip outer
            edge sampled at the same C positions across the mouth (`MOUTH_COLUMN_X`);
            the mouth opening keeps each lip's thickness along these columns.
    """

    landmarks: np.ndarray
    head: np.ndarray
    eyes: tuple[np.ndarray, np.ndarray]
    upper_lids: tuple[np.ndarray, np.ndarray]
    lower_lids: tuple[np.ndarray, np.ndarray]
    brows: tuple[np.ndarray, np.ndarray]
    upper_lip: np.ndarray
    lower_lip: np.ndarray
    lip_line: np.ndarray
    mouth_columns: np.ndarray


# Positions across the mouth (-1 = left corner, 1 = right corner) of `mouth_columns`;
# columns 1, 3, 5, 7, 9 carry the inner-lip landmarks 60-64 / 67-65.
MOUTH_COLUMN_X = np.array([-1, -0.86, -0.62, -0.4, -0.2, 0, 0.2, 0.4, 0.62, 0.86, 1])


def _jaw_and_forehead(ident: Identity) -> tuple[np.ndarray, np.ndarray]:
    w, top = ident.face_half_width, ident.eye_y + 0.01
    height = ident.chin_y - top
    p = 2.0 / ident.jaw_squareness

    def lower(theta):
        s, c = np.sin(theta), np.cos(theta)
        rel = np.abs(c) ** p
        x = 0.5 + w * np.sign(s) * np.abs(s) ** p * (1 - 0.22 * rel ** 2)
        return np.stack([x, top + height * rel], -1)

    jaw = lower(np.linspace(-np.pi / 2, np.pi / 2, 17))
    theta = np.linspace(np.pi / 2, -np.pi / 2, 40)
    dense_jaw = lower(theta[::-1])
    phi = np.linspace(0, np.pi, 30)[1:-1]
    forehead = np.stack([0.5 + 0.97 * w * np.cos(phi),
                         top - (top - 0.06) * np.sin(phi) ** 0.8], -1)
    return jaw, np.vstack([dense_jaw, forehead])


def _brow(ident: Identity, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Five centre-line landmarks (left to right) and the closed outline of one brow."""
    centre = 0.5 + side * ident.eye_spacing
    inner, outer = 0.5 + side * 0.026, centre + side * (ident.eye_width / 2 + 0.022)
    u = np.linspace(0, 1, 9)  # 0 = inner end, 1 = outer end
    x = inner + (outer - inner) * u
    y = (ident.eye_y - ident.brow_gap - ident.brow_arch * np.sin(np.pi * u ** 0.75)
         + 0.006 * u ** 2)
    taper = (0.65 - 0.35 * u) * (0.6 + 0.4 * np.sin(np.pi * (0.15 + 0.85 * u)))
    offset = vec(0, 1) * (ident.brow_thickness * taper)[:, None]
    line = np.stack([x, y], -1)
    outline = np.vstack([line - offset, (line + offset)[::-1]])
    marks = line[::2]
    if side < 0:
        marks = marks[::-1]
    return marks, smooth_curve(outline, 3, closed=True)


def _eye(ident: Identity, side: int):
    """Landmarks (six, dlib order) and dense lids of one eye; side -1 = image left."""
    cx, cy, ew = 0.5 + side * ident.eye_spacing, ident.eye_y, ident.eye_width
    tilt = ident.eye_tilt * ew / 2
    outer = np.array([cx + side * ew / 2, cy - tilt])
    inner = np.array([cx - side * ew / 2, cy + tilt + 0.002])
    left, right = (outer, inner) if side < 0 else (inner, outer)
    u = np.linspace(0, 1, 13)
    from_outer = u if side < 0 else 1 - u
    base = left + (right - left) * u[:, None]
    height = ident.eye_open * ew
    bulge_up = np.sin(np.pi * from_outer ** 0.85) ** 0.8
    upper = base - vec(0, 1) * (0.6 * height * bulge_up)[:, None]
    lower = base + vec(0, 1) * (0.4 * height * np.sin(np.pi * from_outer ** 1.15) ** 0.9)[:, None]
    marks = np.vstack([upper[[0, 4, 8, 12]], lower[[8, 4]]])
    outline = np.vstack([upper, lower[-2:0:-1]])
    return marks, upper, lower, outline


def _mouth(ident: Identity):
    mw, ul, ll = ident.mouth_half_width, ident.upper_lip, ident.lower_lip
    my = ident.mouth_y

    def line_y(x):
        return my + 0.003 * (1 - ((x - 0.5) / mw) ** 2)

    def at(dx, dy):
        return [0.5 + dx * mw, line_y(0.5 + dx * mw) + dy]

    outer = [at(-1, 0.001), at(-0.62, -0.72 * ul), at(-0.24, -1.05 * ul), at(0, -0.82 * ul),
             at(0.24, -1.05 * ul), at(0.62, -0.72 * ul), at(1, 0.001),
             at(0.6, 0.78 * ll), at(0.28, 0.98 * ll), at(0, ll), at(-0.28, 0.98 * ll),
             at(-0.6, 0.78 * ll)]
    inner = [at(-0.86, 0), at(-0.4, 0), at(0, 0), at(0.4, 0), at(0.86, 0),
             at(0.4, 0), at(0, 0), at(-0.4, 0)]
    marks = np.array(outer + inner)
    line = smooth_curve(np.array([at(x, 0) for x in np.linspace(-1, 1, 9)]), 3)
    upper = np.vstack([smooth_curve(marks[0:7], 4), line[::-1][1:-1]])
    lower_outer = smooth_curve(np.vstack([marks[6:12], marks[:1]]), 4)
    lower = np.vstack([lower_outer, line[1:-1]])
    upper_outer = smooth_curve(marks[0:7], 4)
    xs = 0.5 + MOUTH_COLUMN_X * mw
    columns = np.stack([
        np.stack([xs, np.interp(xs, curve[:, 0], curve[:, 1])], -1)
        for curve in (upper_outer, line, lower_outer[::-1])])
    return marks, upper, lower, line, columns


def face_geometry(ident: Identity) -> Geometry:
    """Builds the neutral face's shapes from its identity (canonical units, no pose)."""
    jaw, head = _jaw_and_forehead(ident)
    brow_r, outline_r = _brow(ident, -1)
    brow_l, outline_l = _brow(ident, 1)
    eye_r, up_r, lo_r, out_r = _eye(ident, -1)
    eye_l, up_l, lo_l, out_l = _eye(ident, 1)
    ey, ty = ident.eye_y, ident.nose_tip_y
    nw = ident.nose_half_width
    bridge = np.stack([np.full(4, 0.5), np.linspace(ey - 0.005, ty - 0.008, 4)], -1)
    base = np.array([[0.5 - 0.72 * nw, ty + 0.010], [0.5 - 0.36 * nw, ty + 0.017],
                     [0.5, ty + 0.020], [0.5 + 0.36 * nw, ty + 0.017],
                     [0.5 + 0.72 * nw, ty + 0.010]])
    mouth, upper_lip, lower_lip, lip_line, columns = _mouth(ident)
    landmarks = np.vstack([jaw, brow_r, brow_l, bridge, base, eye_r, eye_l, mouth])
    return Geometry(landmarks=landmarks, head=head, eyes=(out_r, out_l),
                    upper_lids=(up_r, up_l), lower_lids=(lo_r, lo_l),
                    brows=(outline_r, outline_l), upper_lip=upper_lip, lower_lip=lower_lip,
                    lip_line=lip_line, mouth_columns=columns)


def pose_matrix(ident: Identity, size: float) -> np.ndarray:
    """(2, 3) affine map from canonical units to pixels (pixel centres at integers).

    Rotation by `roll` degrees and scaling about the image centre, then the shift.
    """
    a = np.deg2rad(ident.roll)
    rot = ident.scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    centre = np.array([0.5, 0.5])
    offset = centre - rot @ centre + np.asarray(ident.shift)
    return np.hstack([rot * size, (offset * size - 0.5)[:, None]])


def unpose(ident: Identity, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical coordinates of image points given as fractions of the image side."""
    a = np.deg2rad(ident.roll)
    c, s = np.cos(a) / ident.scale, np.sin(a) / ident.scale
    dx, dy = x - 0.5 - ident.shift[0], y - 0.5 - ident.shift[1]
    return 0.5 + c * dx + s * dy, 0.5 - s * dx + c * dy


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Maps (..., 2) points through a (2, 3) affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]
