"""How each action unit moves the face: FACS control points, RBF motion fields and AU regions.

Every AU displaces a few control points (canonical units, y down). Its motion field is
the Wendland C2 radial-basis interpolant of those displacements: smooth, exact at the
control points and exactly zero beyond each kernel's radius, so an AU acts only inside
its region. Fields are stored as backward maps (the expression image samples the
neutral one) and are linear in the AU intensities.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from defgan_tf.aus import AU_CODES, NUM_AUS
from defgan_tf.data.synthetic.geometry import Geometry, apply_affine, vec
from defgan_tf.data.synthetic.identity import Identity

PX = 1.0 / 128  # one pixel of a 128 x 128 face, in canonical units


@dataclass(frozen=True)
class Controls:
    """One AU's control points: centres (K, 2), displacements (K, 2), radii (K,)."""

    centres: np.ndarray
    moves: np.ndarray
    radii: np.ndarray


# Wendland's kernel falls to half height at 0.3 of its radius; control points are given
# with the reach of their visible motion, so their kernel radius is REACH times that.
REACH = 1.6
# A kernel moving a point by m spreads over at least SPREAD * m: Wendland's steepest slope
# is 2.1 / radius, so this keeps a lone control point's field from compressing the
# skin by more than ~60 % (the warp stays invertible).
SPREAD = 3.6
# Where an AU moves the face by at least this many pixels (at intensity 1) is its region.
REGION_MIN_PX = 0.01
# Texture windows reach this share of a kernel's radius.
WINDOW_REACH = 0.6


def _controls(points) -> Controls:
    """Builds `Controls` from [(centre, (dx, dy) in 128-px, visible reach), ...]."""
    centres = np.array([np.asarray(c, float) for c, _, _ in points])
    moves = np.array([np.asarray(d, float) for _, d, _ in points]) * PX
    radii = REACH * np.array([r for _, _, r in points], float)
    radii = np.maximum(radii, SPREAD * np.linalg.norm(moves, axis=-1))
    return Controls(centres, moves, radii)


def au_controls(ident: Identity, geom: Geometry) -> list[Controls]:
    """The control points of all 17 AUs (AU_CODES order) for one face, canonical units."""
    lm = geom.landmarks
    up_cols, _, low_cols = geom.mouth_columns
    brow_y = lm[17:27, 1].mean()
    w, mw, my = ident.face_half_width, ident.mouth_half_width, ident.mouth_y
    above_lip = up_cols + vec(0, -0.008)
    below_lip = low_cols + vec(0, 0.010)
    lid_drop = 0.6 * ident.eye_open * ident.eye_width * 0.5 / PX

    def both(make):
        return [p for side in (-1, 1) for p in make(side)]

    def lids(which, move, radius, samples=(3, 6, 9)):
        curves = geom.upper_lids if which == "upper" else geom.lower_lids
        return [(curve[k], move, radius) for curve in curves for k in samples]

    def corner(side):
        return lm[48] if side < 0 else lm[54]

    def eye_corner(side):
        return lm[36] if side < 0 else lm[45]

    def cheek(side):
        return np.array([0.5 + side * 0.55 * w, ident.nose_tip_y - 0.03])

    def ala(side):
        return lm[31] if side < 0 else lm[35]

    brow_drop = {21: (2.0, 2.4), 20: (1.6, 2.4), 19: (1.0, 2.0), 18: (0.5, 1.5), 17: (0, 1)}
    brow_drop.update({43 - k: (-dx, dy) for k, (dx, dy) in list(brow_drop.items())})
    spec = {
        "AU01": [*[(lm[i], (0, -3.0 if i in (21, 22) else -2.2), 0.045) for i in (20, 21, 22, 23)],
                 *both(lambda s: [((0.5 + s * 0.035, brow_y - 0.06), (0, -1.4), 0.07)])],
        "AU02": [*[(lm[i], (0, -3.0 if i in (17, 26) else -2.4), 0.045) for i in (17, 18, 25, 26)],
                 *both(lambda s: [((0.5 + s * 0.12, brow_y - 0.055), (0, -1.2), 0.06)])],
        "AU04": [(lm[i], brow_drop[i], 0.04) for i in range(17, 27)],
        "AU05": [*lids("upper", (0, -1.3), 0.03), *lids("lower", (0, 0), 0.025)],
        "AU06": [*both(lambda s: [(cheek(s), (s * 0.3, -2.0), 0.07),
                                  (eye_corner(s) + vec(s * 0.02, 0), (0, -0.8), 0.04),
                                  (ala(s) + vec(s * 0.02, 0), (s * 0.3, -1.0), 0.05)]),
                 *lids("lower", (0, -1.0), 0.03, (3, 9))],
        "AU07": [*lids("lower", (0, -1.2), 0.03), *lids("upper", (0, 0.5), 0.03, (6,))],
        "AU09": [(lm[31], (0, -1.5), 0.04), (lm[35], (0, -1.5), 0.04), (lm[29], (0, -1.2), 0.04),
                 (lm[51], (0, -1.0), 0.03), (lm[21], (0, 1.0), 0.035), (lm[22], (0, 1.0), 0.035),
                 (lm[27], (0, 0.6), 0.03)],
        "AU10": [*[(above_lip[c], (0, -2.4 if c in (4, 5, 6) else -1.8), 0.035)
                   for c in (2, 4, 5, 6, 8)],
                 (lm[31], (0, -0.6), 0.03), (lm[35], (0, -0.6), 0.03),
                 *[(below_lip[c], (0, 0), 0.03) for c in (3, 5, 7)]],
        "AU12": [*both(lambda s: [(corner(s), (s * 2.4, -2.8), 0.04),
                                  ((0.5 + s * (mw + 0.03), my - 0.03), (s * 1.0, -1.4), 0.05)]),
                 (above_lip[5], (0, -0.9), 0.03), (below_lip[5], (0, 0.4), 0.03)],
        "AU14": both(lambda s: [(corner(s), (-s * 1.2, -0.3), 0.03),
                                (corner(s) + vec(s * 0.02, 0), (-s * 0.6, 0), 0.03)]),
        "AU15": both(lambda s: [(corner(s), (s * 0.4, 2.2), 0.04),
                                ((0.5 + s * mw, my + 0.03), (0, 1.2), 0.045)]),
        "AU17": [*[(lm[i], (0, -1.8), 0.05) for i in (7, 8, 9)],
                 (below_lip[5], (0, -1.8), 0.035), (low_cols[5], (0, -1.2), 0.03),
                 (above_lip[5], (0, 0), 0.03)],
        "AU20": both(lambda s: [(corner(s), (s * 2.8, 0.6), 0.045),
                                (corner(s) + vec(s * 0.03, 0), (s * 1.0, 0), 0.04)]),
        "AU23": [*both(lambda s: [(corner(s), (-s * 2.2, 0), 0.035)]),
                 *[(up_cols[c], (0, 1.0), 0.025) for c in (3, 5, 7)],
                 *[(low_cols[c], (0, -1.0), 0.025) for c in (3, 5, 7)]],
        "AU25": [*[(above_lip[c], (0, -0.5), 0.035) for c in (3, 5, 7)],
                 *[(below_lip[c], (0, 1.1), 0.035) for c in (3, 5, 7)],
                 (lm[48], (0, 0), 0.03), (lm[54], (0, 0), 0.03)],
        "AU26": [*[(lm[i], (0, 5.0 if i == 8 else 4.4), 0.08) for i in (6, 8, 10)],
                 *[(low_cols[c] + vec(0, 0.016), (0, 3.8), 0.045) for c in (3, 5, 7)],
                 (lm[48], (0, 1.6), 0.03), (lm[54], (0, 1.6), 0.03), (lm[33], (0, 0), 0.05),
                 (up_cols[5] + vec(0, -0.014), (0, 0.6), 0.04)],
        "AU45": [*lids("upper", (0, lid_drop), 0.03), *lids("lower", (0, 0), 0.025)],
    }
    return [_controls(spec[code]) for code in AU_CODES]


def wendland(r: np.ndarray) -> np.ndarray:
    """Wendland's C2 kernel (1 - r)^4 (4r + 1) for r < 1, else 0; positive definite in 2-D."""
    r = np.minimum(r, 1.0)
    return (1 - r) ** 4 * (4 * r + 1)


@dataclass(frozen=True)
class Patch:
    """A crop `values` of an (S, S, ...) map that is zero outside rows `ys`, columns `xs`."""

    ys: slice
    xs: slice
    values: np.ndarray

    @staticmethod
    def of(full: np.ndarray, support: np.ndarray) -> Patch:
        """The bounding box of the boolean (S, S) `support` cut out of `full`."""
        rows, cols = np.flatnonzero(support.any(1)), np.flatnonzero(support.any(0))
        if len(rows) == 0:
            return Patch(slice(0, 0), slice(0, 0), full[:0, :0].copy())
        ys, xs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
        return Patch(ys, xs, np.ascontiguousarray(full[ys, xs]))


def combine(patches: list[Patch], weights: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum of `weights[k] * patches[k]` as a full float32 array of `shape`."""
    out = np.zeros(shape, np.float32)
    for k in np.flatnonzero(weights):
        patch = patches[k]
        out[patch.ys, patch.xs] += np.float32(weights[k]) * patch.values
    return out


@dataclass(frozen=True)
class MotionBasis:
    """Per-face motion fields in output pixels.

    Attributes:
        fields: 17 `Patch`es, each AU's backward displacement at intensity 1, (h, w, 2)
            pixels over its region's bounding box; the flow is linear in the AUs.
        regions: (17, S, S) bool, where each AU moves the face by `REGION_MIN_PX` or more
            at intensity 1, or may draw texture (its window), one pixel wider.
        windows: (17, S, S) float32 in [0, 1], smooth weights that are 1 in the core of
            each region and 0 outside it (texture is faded in with them).
    """

    fields: list[Patch]
    regions: np.ndarray
    windows: np.ndarray


def motion_basis(controls: list[Controls], matrix: np.ndarray, size: int) -> MotionBasis:
    """Evaluates every AU's RBF field and region for one posed face.

    Each AU is evaluated only on the bounding box of its kernels' supports, so the cost
    grows with the area the AUs cover, not with the image.

    Args:
        controls: `au_controls(...)`, canonical units.
        matrix: (2, 3) canonical-to-pixel pose map (`pose_matrix(ident, size)`).
        size: output side S in pixels.

    Returns:
        A `MotionBasis`.
    """
    axis = np.arange(size, dtype=np.float32)
    linear = matrix[:, :2]
    px_per_unit = np.sqrt(abs(np.linalg.det(linear)))
    fields = np.zeros((NUM_AUS, size, size, 2), np.float32)
    regions = np.zeros((NUM_AUS, size, size), bool)
    windows = np.zeros((NUM_AUS, size, size), np.float32)
    for a, ctl in enumerate(controls):
        centres = apply_affine(matrix, ctl.centres)
        moves = ctl.moves @ linear.T
        radii = ctl.radii * px_per_unit
        gram = wendland(np.linalg.norm(centres[:, None] - centres[None], axis=-1) / radii[None])
        weights = np.linalg.solve(gram, -moves)  # backward map: sample where content was
        lo = np.clip(np.floor((centres - radii[:, None]).min(0)).astype(int) - 1, 0, size)
        hi = np.clip(np.ceil((centres + radii[:, None]).max(0)).astype(int) + 2, 0, size)
        if (hi <= lo).any():
            continue
        ys, xs = slice(lo[1], hi[1]), slice(lo[0], hi[0])
        d = np.hypot(axis[xs][None, None] - centres[:, 0, None, None].astype(np.float32),
                     axis[ys][None, :, None] - centres[:, 1, None, None].astype(np.float32))
        rel = d / radii[:, None, None].astype(np.float32)
        fields[a, ys, xs] = np.tensordot(wendland(rel), weights.astype(np.float32), axes=(0, 0))
        movers = np.linalg.norm(moves, axis=-1) > 0  # anchors hold still: no texture there
        near = np.clip((1 - rel[movers] / WINDOW_REACH) / 0.5, 0, 1).max(0)
        windows[a, ys, xs] = near * near * (3 - 2 * near)
        moving = np.abs(fields[a, ys, xs]).max(-1) >= REGION_MIN_PX
        regions[a, ys, xs] = cv2.dilate((moving | (near > 0)).astype(np.uint8),
                                        np.ones((3, 3), np.uint8)) > 0
    patches = [Patch.of(fields[a], regions[a]) for a in range(NUM_AUS)]
    return MotionBasis(patches, regions, windows)


def flow_field(basis: MotionBasis, aus: np.ndarray) -> np.ndarray:
    """(S, S, 2) float32 backward flow of expression `aus` (17,) in [0, 1], pixels, (x, y)."""
    size = basis.regions.shape[1]
    return combine(basis.fields, np.asarray(aus, np.float32), (size, size, 2))


def forward_points(flow: np.ndarray, points: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Where neutral `points` (N, 2) end up: solves q + flow(q) = p by fixed-point iteration.

    Converges because every field's Jacobian stays well below 1 in norm.
    """
    q = points.astype(np.float32)
    target = q.copy()
    for _ in range(iterations):
        sampled = cv2.remap(flow, q[:, :1], q[:, 1:], cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
        q = target - sampled[:, 0]
    return q


def invert_flow(flow: np.ndarray, targets: np.ndarray, iterations: int = 12) -> np.ndarray:
    """For every pixel target y (H, W, 2), the q with q + flow(q) = y, as a dense map."""
    q = targets.copy()
    for _ in range(iterations):
        sampled = cv2.remap(flow, q[..., 0], q[..., 1], cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
        q = targets - sampled
    return q
