"""Renders a synthetic face at any AU expression, with its true flow, AU regions and landmarks."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from defgan_tf.aus import NUM_AUS, au_index
from defgan_tf.data.synthetic import motion, texture
from defgan_tf.data.synthetic.geometry import (
    INNER_LOWER,
    INNER_UPPER,
    UPPER_LIDS,
    apply_affine,
    face_geometry,
    pose_matrix,
)
from defgan_tf.data.synthetic.identity import Identity
from defgan_tf.data.synthetic.paint import paint_neutral

_AU45 = au_index("AU45")
_LID_SAMPLES = (4, 8)  # upper-lid curve samples that are landmarks 37/38 and 43/44
MIN_SIZE = 32


@dataclass(frozen=True)
class Render:
    """One rendered expression and its ground truth.

    Attributes:
        image: (S, S, 3) uint8 RGB.
        flow: (S, S, 2) float32 backward motion from the neutral face, pixels, (x, y):
            `motion_only[y, x] = neutral[y + flow[y, x, 1], x + flow[y, x, 0]]` (bilinear).
        regions: (S, S, 17) bool, where each AU (AU_CODES order) acts; a read-only view.
        landmarks: (68, 2) float32 (x, y) pixels, dlib order, of the rendered expression.
    """

    image: np.ndarray
    flow: np.ndarray
    regions: np.ndarray
    landmarks: np.ndarray


@dataclass(frozen=True)
class _Rig:
    """Everything about one face at one size that no expression changes (cached)."""

    neutral: np.ndarray
    skin: np.ndarray
    basis: motion.MotionBasis
    regions: np.ndarray
    shade_maps: list[motion.Patch]
    shade_weights: np.ndarray
    grid: np.ndarray
    landmarks: np.ndarray
    upper_lids: np.ndarray
    lower_lids: np.ndarray
    mouth_columns: np.ndarray
    lash_colour: tuple[float, float, float]


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@functools.lru_cache(maxsize=4)
def _pixel_grid(size: int) -> np.ndarray:
    """(S, S, 2) float32 (x, y) coordinates of every pixel centre (read-only, shared)."""
    axis = np.arange(size, dtype=np.float32)
    return _read_only(np.stack(np.meshgrid(axis, axis), -1))


@functools.lru_cache(maxsize=8)
def _rig(identity: Identity, size: int) -> _Rig:
    geom = face_geometry(identity)
    matrix = pose_matrix(identity, size)
    painted = paint_neutral(identity, geom, size)
    basis = motion.motion_basis(motion.au_controls(identity, geom), matrix, size)
    maps, weights = texture.texture_maps(identity, geom, matrix, size, basis.windows)
    to_px = functools.partial(apply_affine, matrix)
    lash = np.clip(np.asarray(identity.brow_colour) * 0.45 + 12, 0, 255)
    return _Rig(
        neutral=_read_only(painted.image), skin=_read_only(painted.skin),
        basis=basis, regions=_read_only(basis.regions.transpose(1, 2, 0)),
        shade_maps=maps, shade_weights=weights, grid=_pixel_grid(size),
        landmarks=to_px(geom.landmarks).astype(np.float32),
        upper_lids=to_px(np.stack(geom.upper_lids)), lower_lids=to_px(np.stack(geom.lower_lids)),
        mouth_columns=to_px(geom.mouth_columns), lash_colour=tuple(float(c) for c in lash))


def _check(aus, size: int) -> np.ndarray:
    if not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer >= {MIN_SIZE}. Received: size={size!r}")
    values = np.asarray(aus, np.float32)
    if values.shape != (NUM_AUS,):
        raise ValueError(f"aus must have shape ({NUM_AUS},), one intensity per AU in "
                         f"AU_CODES order. Received: shape {values.shape}")
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
        raise ValueError(f"aus must lie in [0, 1] (OpenFace intensity / 5). Received: "
                         f"min {values.min():.3f}, max {values.max():.3f}")
    return values


def _warp(rig: _Rig, aus: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    flow = motion.flow_field(rig.basis, aus)
    maps = rig.grid + flow
    moved = cv2.remap(rig.neutral, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    return flow, maps, moved


def render_neutral(identity: Identity, size: int = 128) -> np.ndarray:
    """The identity's neutral face, (S, S, 3) uint8 RGB (a read-only cached array)."""
    _check(np.zeros(NUM_AUS), size)
    return _rig(identity, int(size)).neutral


def render_motion_only(identity: Identity, aus, size: int = 128) -> np.ndarray:
    """The neutral face warped by the expression's flow, without any new texture.

    Returns:
        (S, S, 3) uint8 RGB; equals `neutral` bilinearly sampled at `grid + flow`.
    """
    values = _check(aus, size)
    return _warp(_rig(identity, int(size)), values)[2]


def render(identity: Identity, aus, size: int = 128) -> Render:
    """Renders `identity` with expression `aus`.

    Args:
        identity: from `make_identity(seed)`.
        aus: (17,) intensities in [0, 1], AU_CODES order.
        size: output side S in pixels (>= 32).

    Returns:
        A `Render`. Deterministic: the same arguments give the same bytes.
    """
    values = _check(aus, size)
    size = int(size)
    rig = _rig(identity, size)
    flow, maps, moved = _warp(rig, values)
    active = values > 0
    if not active.any():
        return Render(rig.neutral.copy(), flow, rig.regions, rig.landmarks.copy())
    allowed = texture.Allowed(rig.basis.regions, active)
    image = moved.astype(np.float32)
    coeff = rig.shade_weights @ values
    if coeff.any():
        shade = motion.combine(rig.shade_maps, coeff, (size, size))
        shade = cv2.remap(shade, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        image *= 1 + np.clip(shade, -0.6, 0.5)[..., None]
    n_lid = rig.upper_lids.shape[1]
    neutral_pts = np.vstack([rig.landmarks, rig.upper_lids.reshape(-1, 2),
                             rig.lower_lids.reshape(-1, 2), rig.mouth_columns.reshape(-1, 2)])
    moved_pts = motion.forward_points(flow, neutral_pts)
    landmarks = moved_pts[:68].copy()
    upper = moved_pts[68:68 + 2 * n_lid].reshape(2, n_lid, 2)
    lower = moved_pts[68 + 2 * n_lid:68 + 4 * n_lid].reshape(2, n_lid, 2)
    columns = moved_pts[68 + 4 * n_lid:].reshape(rig.mouth_columns.shape)
    if values[_AU45] > 0:
        edges = texture.close_eyelids(image, rig.skin, upper, lower, float(values[_AU45]),
                                      allowed, rig.lash_colour)
        landmarks[UPPER_LIDS] = edges[:, list(_LID_SAMPLES)].reshape(-1, 2)
    upper_edge, lower_edge = texture.open_mouth(image, rig.mouth_columns, columns, allowed)
    landmarks[INNER_UPPER] = upper_edge[[3, 5, 7]]
    landmarks[INNER_LOWER] = lower_edge[[3, 5, 7]]
    landmarks[[60, 64]] = (upper_edge[[1, 9]] + lower_edge[[1, 9]]) / 2
    final = cv2.convertScaleAbs(image)  # rounds and saturates; the image is never negative
    return Render(final, flow, rig.regions, landmarks.astype(np.float32))


def true_edit_flow(identity: Identity, source_aus, target_aus, size: int = 128) -> np.ndarray:
    """The true motion of the edit from `source_aus` to `target_aus` of one face.

    With f_s, f_t the two expressions' backward flows, returns e = (Id + f_s)^-1 ∘ (Id + f_t) - Id,
    so that `source[p + e(p)] = target_motion_only[p]`: the backward sampling grid a
    deformation generator should predict.

    Returns:
        (S, S, 2) float32, pixels, (x, y).
    """
    source, target = _check(source_aus, size), _check(target_aus, size)
    size = int(size)
    rig = _rig(identity, size)
    f_s = motion.flow_field(rig.basis, source)
    f_t = motion.flow_field(rig.basis, target)
    sampled = motion.invert_flow(f_s.astype(np.float64), rig.grid + f_t.astype(np.float64))
    return (sampled - rig.grid).astype(np.float32)
