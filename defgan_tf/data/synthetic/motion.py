"""How each action unit moves the face: FACS control points, RBF motion fields and AU regions.

Every AU displaces a few control points (canonical units, y down). Its motion field is
the Wendland C2 radial-basis interpolant of those displacements: smooth, exact at the
control points and exactly zero beyond each kernel's radius, so an AU acts only inside
its region. Fields are stored as backward maps (the expression image samples the
neutral one) and are linear in the AU intensities.
"""

from __future__ import annotations

import math
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
# Faces this large get their fields evaluated at half resolution, then upsampled.
COARSE_FROM = 128


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
        "AU05": [*lids("upper", (0, -1.8), 0.03), *lids("lower", (0, 0), 0.025)],
        "AU06": [*both(lambda s: [(cheek(s), (s * 0.3, -2.0), 0.07),
                                  (eye_corner(s) + vec(s * 0.02, 0), (0, -0.8), 0.04),
                                  (ala(s) + vec(s * 0.02, 0), (s * 0.3, -1.0), 0.05)]),
                 *lids("lower", (0, -1.0), 0.03, (3, 9))],
        "AU07": [*lids("lower", (0, -1.6), 0.03), *lids("upper", (0, 0.7), 0.03, (6,))],
        "AU09": [(lm[31], (0, -2.0), 0.04), (lm[35], (0, -2.0), 0.04), (lm[29], (0, -1.6), 0.04),
                 (lm[51], (0, -1.4), 0.03), (lm[21], (0, 1.3), 0.035), (lm[22], (0, 1.3), 0.035),
                 (lm[27], (0, 0.6), 0.03)],
        "AU10": [*[(above_lip[c], (0, -2.4 if c in (4, 5, 6) else -1.8), 0.035)
                   for c in (2, 4, 5, 6, 8)],
                 (lm[31], (0, -0.6), 0.03), (lm[35], (0, -0.6), 0.03),
                 *[(below_lip[c], (0, 0), 0.03) for c in (3, 5, 7)]],
        "AU12": [*both(lambda s: [(corner(s), (s * 2.4, -2.8), 0.04),
                                  ((0.5 + s * (mw + 0.03), my - 0.03), (s * 1.0, -1.4), 0.05)]),
                 (above_lip[5], (0, -0.9), 0.03), (below_lip[5], (0, 0.4), 0.03)],
        "AU14": both(lambda s: [(corner(s), (-s * 1.6, -0.4), 0.03),
                                (corner(s) + vec(s * 0.02, 0), (-s * 0.9, 0), 0.03)]),
        "AU15": both(lambda s: [(corner(s), (s * 0.4, 2.2), 0.04),
                                ((0.5 + s * mw, my + 0.03), (0, 1.2), 0.045)]),
        "AU17": [*[(lm[i], (0, -2.2), 0.05) for i in (7, 8, 9)],
                 (below_lip[5], (0, -1.8), 0.035), (low_cols[5], (0, -1.2), 0.03),
                 (above_lip[5], (0, 0), 0.03)],
        "AU20": both(lambda s: [(corner(s), (s * 2.8, 0.6), 0.045),
                                (corner(s) + vec(s * 0.03, 0), (s * 1.0, 0), 0.04)]),
        "AU23": [*both(lambda s: [(corner(s), (-s * 2.2, 0), 0.035)]),
                 *[(up_cols[c], (0, 1.0), 0.025) for c in (3, 5, 7)],
                 *[(low_cols[c], (0, -1.0), 0.025) for c in (3, 5, 7)]],
        "AU25": [*[(above_lip[c], (0, -0.7), 0.035) for c in (3, 5, 7)],
                 *[(below_lip[c], (0, 1.6), 0.035) for c in (3, 5, 7)],
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
        windows: 17 `Patch`es of (h, w) float32 in [0, 1], smooth weights that are 1 in
            the core of each region and 0 outside it (texture is faded in with them).
    """

    fields: list[Patch]
    regions: np.ndarray
    windows: list[Patch]


def _rbf_patches(controls: list[Controls], matrix: np.ndarray, size: int, grid: int
                 ) -> list[tuple[Patch, Patch]]:
    """Every AU's backward field and texture window on a grid x grid lattice.

    Lattice sample j sits at pixel (j + 0.5) * size / grid - 0.5, where `cv2.resize`
    expects it. Each AU is evaluated only on the bounding box of its kernels' supports
    plus one zero sample on each side (so that crops upsample like the whole lattice).

    Returns:
        Per AU: its field (h, w, 2) in pixels and its window (h, w) in [0, 1], as patches
        of the lattice.
    """
    cell = size / grid
    axis = ((np.arange(grid) + 0.5) * cell - 0.5).astype(np.float32)
    linear = matrix[:, :2]
    px_per_unit = np.sqrt(abs(np.linalg.det(linear)))
    # All AUs at once where it is cheap: pose, kernel scales and the RBF weights (one
    # batched solve, each AU's system padded with the identity).
    counts = [len(ctl.radii) for ctl in controls]
    ends = np.cumsum(counts)[:-1]
    centres_all = np.split(apply_affine(matrix, np.vstack([c.centres for c in controls]))
                           .astype(np.float32), ends)
    moves_all = np.split(np.vstack([c.moves for c in controls]) @ linear.T, ends)
    radii_all = np.split((np.concatenate([c.radii for c in controls]) * px_per_unit)
                         .astype(np.float32), ends)
    size_k = max(counts)
    grams = np.tile(np.eye(size_k), (len(controls), 1, 1))
    rhs = np.zeros((len(controls), size_k, 2))
    for a, (centres, moves, radii) in enumerate(zip(centres_all, moves_all, radii_all)):
        k = len(radii)
        dist = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
        grams[a, :k, :k] = wendland(dist / radii[None])
        rhs[a, :k] = -moves  # backward map: sample where the content was
    weights_all = np.linalg.solve(grams, rhs).astype(np.float32)
    out = []
    for a, (centres, moves, radii) in enumerate(zip(centres_all, moves_all, radii_all)):
        k = len(radii)
        low, high = (centres - radii[:, None]).min(0), (centres + radii[:, None]).max(0)
        x0, y0 = (max(math.ceil((v + 0.5) / cell - 0.5) - 1, 0) for v in low)
        x1, y1 = (min(math.floor((v + 0.5) / cell - 0.5) + 2, grid) for v in high)
        ys, xs = slice(y0, max(y1, y0)), slice(x0, max(x1, x0))
        rel = np.hypot(axis[xs][None, None] - centres[:, 0, None, None],
                       axis[ys][None, :, None] - centres[:, 1, None, None]) / radii[:, None, None]
        h, w = rel.shape[1:]
        field = (wendland(rel).reshape(k, -1).T @ weights_all[a, :k]).reshape(h, w, 2)
        movers = np.abs(moves).max(-1) > 0  # anchors hold still: no texture there
        near = np.clip((1 - rel[movers].min(0) / WINDOW_REACH) / 0.5, 0, 1)
        window = near * near * (3 - 2 * near)
        out.append((Patch(ys, xs, field), Patch(ys, xs, window)))
    return out


def _upsample(patch: Patch, factor: int) -> Patch:
    """A lattice patch at `factor` times the resolution (bilinear, like the full lattice)."""
    ys = slice(patch.ys.start * factor, patch.ys.stop * factor)
    xs = slice(patch.xs.start * factor, patch.xs.stop * factor)
    if patch.values.size == 0:
        return Patch(ys, xs, patch.values)
    h, w = patch.values.shape[:2]
    return Patch(ys, xs, cv2.resize(patch.values, (w * factor, h * factor)))


def motion_basis(controls: list[Controls], matrix: np.ndarray, size: int) -> MotionBasis:
    """Evaluates every AU's RBF field, texture window and region for one posed face.

    Faces of an even size of `COARSE_FROM` pixels or more have their fields evaluated at
    half resolution and upsampled bilinearly (they vary over several pixels); the
    upsampled field is the true one.

    Args:
        controls: `au_controls(...)`, canonical units.
        matrix: (2, 3) canonical-to-pixel pose map (`pose_matrix(ident, size)`).
        size: output side S in pixels.

    Returns:
        A `MotionBasis`.
    """
    factor = 2 if size >= COARSE_FROM and size % 2 == 0 else 1
    patches = _rbf_patches(controls, matrix, size, size // factor)
    if factor > 1:
        patches = [(_upsample(f, factor), _upsample(w, factor)) for f, w in patches]
    regions = np.zeros((NUM_AUS, size, size), np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    for a, (field, window) in enumerate(patches):
        if field.values.size:
            f = field.values
            moving = np.maximum(np.abs(f[..., 0]), np.abs(f[..., 1])) >= REGION_MIN_PX
            regions[a, field.ys, field.xs] = moving | (window.values > 0)
        regions[a] = cv2.dilate(regions[a], kernel)
    return MotionBasis([f for f, _ in patches], regions.astype(bool), [w for _, w in patches])


def flow_field(basis: MotionBasis, aus: np.ndarray) -> np.ndarray:
    """(S, S, 2) float32 backward flow of expression `aus` (17,) in [0, 1], pixels, (x, y)."""
    size = basis.regions.shape[1]
    return combine(basis.fields, np.asarray(aus, np.float32), (size, size, 2))


def forward_points(flow: np.ndarray, points: np.ndarray, iterations: int = 12,
                   tolerance: float = 1e-3) -> np.ndarray:
    """Where neutral `points` (N, 2) end up: solves q + flow(q) = p by fixed-point iteration.

    Converges because every field's Jacobian stays well below 1 in norm; stops once no
    point moves by more than `tolerance` pixels.
    """
    target = points.astype(np.float32)
    q = target
    for _ in range(iterations):
        sampled = cv2.remap(flow, q[:, :1], q[:, 1:], cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
        moved, q = q, target - sampled[:, 0]
        if np.abs(q - moved).max() < tolerance:
            break
    return q


def sample_bilinear(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Exact bilinear samples of an (H, W, C) field at (..., 2) (x, y) points, border clamped.

    (`cv2.remap` rounds its weights to 1/32 pixel; ground truth should not.)
    """
    h, w = field.shape[:2]
    x = np.clip(points[..., 0], 0, w - 1)
    y = np.clip(points[..., 1], 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.int32), w - 2)
    y0 = np.minimum(np.floor(y).astype(np.int32), h - 2)
    tx, ty = (x - x0)[..., None], (y - y0)[..., None]
    top = field[y0, x0] * (1 - tx) + field[y0, x0 + 1] * tx
    bottom = field[y0 + 1, x0] * (1 - tx) + field[y0 + 1, x0 + 1] * tx
    return top * (1 - ty) + bottom * ty


def invert_flow(flow: np.ndarray, targets: np.ndarray, iterations: int = 30,
                tolerance: float = 1e-5) -> np.ndarray:
    """For every pixel target y (H, W, 2), the q with q + flow(q) = y, as a dense map."""
    q = targets.astype(np.float64)
    for _ in range(iterations):
        moved, q = q, targets - sample_bilinear(flow, q)
        if np.abs(q - moved).max() < tolerance:
            break
    return q
