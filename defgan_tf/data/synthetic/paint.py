"""Paints the neutral face: anti-aliased shapes at 2x, shaded skin, textured hair, downsampled."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from defgan_tf.data.synthetic.canvas import (
    SHIFT,
    Canvas,
    ellipse,
    fixed,
    rgb,
    shade,
    smooth_layer,
    strands,
    to_uint8,
)
from defgan_tf.data.synthetic.geometry import Geometry, smooth_curve, unpose, vec
from defgan_tf.data.synthetic.identity import Identity

_SCLERA = np.array([236.0, 230.0, 224.0])


@dataclass(frozen=True)
class NeutralFace:
    """The painted neutral face at output size.

    Attributes:
        image: (S, S, 3) uint8 RGB.
        skin: (S, S, 3) float32, the lit skin colour everywhere (eyelids are drawn from it).
    """

    image: np.ndarray
    skin: np.ndarray


def paint_neutral(ident: Identity, geom: Geometry, size: int) -> NeutralFace:
    """Paints the neutral face of `ident` at `size` x `size` pixels.

    Args:
        ident: the identity; its `seed` also drives hair and beard strokes.
        geom: `face_geometry(ident)`.
        size: output side in pixels.

    Returns:
        A `NeutralFace`.
    """
    rng = np.random.default_rng([ident.seed, 0xFACE])
    cv = Canvas(ident, size)
    w, lm = ident.face_half_width, geom.landmarks
    skin = np.asarray(ident.skin_colour, np.float32)
    cv.image[:] = smooth_layer(cv.n, lambda x, y: _background(ident, x, y), np.uint8)
    half_skin = smooth_layer(cv.n // 2, lambda x, y: _lit_skin(ident, skin, x, y))
    _shade_skin(half_skin, cv, ident, geom)

    shirt = [(-0.2, 1.3), (-0.1, 1.0), (0.15, 0.955), (0.5 - 0.5 * w, 0.95), (0.5, 1.02),
             (0.5 + 0.5 * w, 0.95), (0.85, 0.955), (1.1, 1.0), (1.2, 1.3)]
    cv.fill(smooth_curve(np.array(shirt), 4), ident.shirt_colour)

    hair = np.asarray(ident.hair_colour, np.float32)
    centre = np.array([0.5, ident.eye_y + 0.03])
    volume = {"short": 1.07, "long": 1.1, "curly": 1.2, "receding": 1.03}[ident.hair_style]
    top = geom.head[40:]  # forehead arc, right temple to left temple
    cap_outer = centre + (np.vstack([geom.head[36:40], top, geom.head[:4]]) - centre) * volume
    if ident.hair_style == "long":
        back = np.vstack([[[0.5 + 1.3 * w, 1.05]], cap_outer, [[0.5 - 1.3 * w, 1.05]]])
        cv.textured(back, shade(hair, 0.8), _hair_strokes(rng, hair, back, 0.8, 260))

    neck = [(0.5 - 0.52 * w, 0.7), (0.5 + 0.52 * w, 0.7), (0.5 + 0.6 * w, 1.05),
            (0.5 - 0.6 * w, 1.05)]
    cv.fill(np.array(neck), shade(skin, 0.72))
    for side in (-1, 1):
        ear = np.array([0.5 + side * (w - 0.004), ident.eye_y + 0.065])
        cv.fill(ellipse(ear, (0.027, 0.058), side * 0.15), shade(skin, 0.88))
        cv.fill(ellipse(ear + vec(side * 0.006, 0.0), (0.012, 0.035), side * 0.15),
                shade(skin, 0.7), 0.7)

    cv.composite(geom.head, cv2.resize(to_uint8(half_skin), (cv.n, cv.n)))

    for outline in geom.brows:
        cv.fill(outline, ident.brow_colour, 0.8)
    brow_strokes = []  # hairs grow outwards, steeply at the inner end, flat at the tail
    for side, idx in ((-1, slice(17, 22)), (1, slice(22, 27))):
        pts = lm[idx]
        along = rng.uniform(0, 1, 60)
        base = np.array([np.interp(along, np.linspace(0, 1, 5), pts[:, k]) for k in (0, 1)]).T
        base += rng.normal(0, ident.brow_thickness * 0.3, base.shape)
        inner = along if side < 0 else 1 - along
        rise = 0.2 + 0.9 * inner + rng.normal(0, 0.15, 60)
        tip = base + 0.016 * np.stack([side * np.cos(rise), -np.sin(rise)], -1)
        brow_strokes.append(np.stack([base, tip], 1))
    cv.stroke(np.vstack(brow_strokes), shade(ident.brow_colour, 0.75), 0.0035, 0.8)

    _eyes(cv, ident, geom)
    _nose(cv, ident, geom, skin)
    if ident.beard in ("full", "stubble"):
        _beard(cv, rng, ident, geom)
    _lips(cv, ident, geom)
    if ident.beard in ("full", "moustache"):
        _moustache(cv, rng, ident, geom)
    strokes = _hair_strokes(rng, hair, cap_outer, 1.0, 420, curly=ident.hair_style == "curly")
    cap = _hair_cap(ident, cap_outer)
    cv.textured(cap, hair, strokes)
    if ident.glasses:
        _glasses(cv, ident)

    image = cv2.resize(cv.image, (size, size), interpolation=cv2.INTER_AREA)
    return NeutralFace(image, cv2.resize(half_skin, (size, size), interpolation=cv2.INTER_AREA))


def _light(ident: Identity, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The scene's directional lighting gradient (a factor around 1) at image fractions."""
    la = ident.light_angle
    return 1 + 2 * ident.light_strength * ((x - 0.5) * np.cos(la) + (y - 0.5) * np.sin(la))


def _background(ident: Identity, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Two-colour diagonal gradient with a vignette, under half the face's lighting."""
    bg0, bg1 = (np.asarray(c, np.float32) for c in ident.background)
    vignette = 1 - 0.35 * ((x - 0.5) ** 2 + (y - 0.45) ** 2)
    lit = vignette * (0.5 + 0.5 * _light(ident, x, y))
    return np.clip((bg0 + (bg1 - bg0) * (x * 0.6 + y * 0.8)[..., None]) * lit[..., None],
                   0, 255)


def _lit_skin(ident: Identity, skin: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Skin under a directional light, darker toward the outline (a rounded head)."""
    light = _light(ident, x, y)
    x, y = unpose(ident, x, y)
    half_height = (ident.chin_y - 0.07) / 2
    rho = ((x - 0.5) / ident.face_half_width) ** 2 + ((y - 0.07 - half_height) / half_height) ** 2
    falloff = 1.05 - 0.28 * np.clip(rho, 0, 1.4) ** 2
    return np.clip(skin * (falloff * light)[..., None], 0, 255)


def _hair_strokes(rng, hair, region, tone: float, count: int, curly: bool = False):
    """Strands (or curls) in three tones over the bounding box of `region`, combed
    outwards and down from the top centre: [(lines, RGB, width)] for `Canvas.textured`."""
    lo, hi = region.min(0), region.max(0)
    centre = np.array([(lo[0] + hi[0]) / 2, hi[1]])
    strokes = []
    for variation, frac in ((0.6, 0.4), (1.25, 0.35), (0.85, 0.25)):
        k = int(count * frac)
        if curly:
            centres, radii = rng.uniform(lo, hi, (k, 2)), rng.uniform(0.006, 0.014, (k, 1, 1))
            ring = ellipse(np.zeros(2), (1.0, 1.0), 0, 8)
            lines = centres[:, None] + radii * ring[None]
        else:
            lines = strands(rng, k, (lo, hi), np.pi / 2, 0.25, (0.06, 0.16), 0.5)
            # comb away from the parting: outwards and down
            side = np.where(lines[:, :1, 0] < centre[0], -1.0, 1.0)
            lines[..., 0] = lines[:, :1, 0] + (lines[..., 0] - lines[:, :1, 0]) * 0.3 + side * (
                lines[..., 1] - lines[:, :1, 1]) * 0.9
        strokes.append((lines, shade(hair, tone * variation), 0.0022))
    return strokes


def _hair_cap(ident: Identity, cap_outer: np.ndarray) -> np.ndarray:
    """Outline of the hair on top of the head: `cap_outer`, back along a wavy hairline."""
    w, hy = ident.face_half_width, ident.hairline_y
    part = (ident.seed % 7 - 3) * 0.02
    xs = np.linspace(0.5 + 0.97 * w, 0.5 - 0.97 * w, 15)
    rel = (xs - 0.5 - part) / (0.97 * w)
    ys = hy + (ident.eye_y - 0.04 - hy) * np.abs(rel) ** 3 + 0.012 * np.sin(rel * 9) ** 2
    return np.vstack([cap_outer, np.stack([xs, ys], -1)[::-1]])


def _shade_skin(skin: np.ndarray, cv: Canvas, ident: Identity, geom: Geometry) -> None:
    """Multiplies soft ambient occlusion (sockets, nose, lips) and highlights into `skin`.

    Args:
        skin: (n/2, n/2, 3) float32 lit skin at half the canvas resolution (the blobs
            are blurred, so half resolution is enough), modified in place.
        cv, ident, geom: the canvas (for its pose) and the face.
    """
    lm, n = geom.landmarks, skin.shape[0]
    maps = np.zeros((2, n, n), np.uint8)  # darkening, highlight

    def put(which, pts, value):
        half = (cv.px(pts) + 0.5) / 2 - 0.5
        cv2.fillPoly(maps[which], [fixed(half)], value, cv2.LINE_AA, SHIFT)

    for side in (-1, 1):
        c = np.array([0.5 + side * ident.eye_spacing, ident.eye_y - 0.006])
        put(0, ellipse(c, (ident.eye_width * 0.78, ident.eye_width * 0.5)), 110)
        cheek = np.array([0.5 + side * (ident.face_half_width * 0.55), ident.nose_tip_y - 0.01])
        put(1, ellipse(cheek, (0.05, 0.035)), 50)
    side = 1 if np.cos(ident.light_angle) < 0 else -1  # the nose's shadow side
    nose_side = np.array([lm[27] + vec(side * 0.012, 0.01), lm[31 if side < 0 else 35]
                          + vec(side * 0.008, -0.01), lm[30] + vec(side * 0.012, 0)])
    put(0, np.vstack([nose_side, lm[[30, 28]]]), 70)
    put(0, ellipse(lm[33] + vec(0, 0.008), (ident.nose_half_width * 0.9, 0.01)), 90)
    put(0, ellipse(lm[57] + vec(0, 0.014), (ident.mouth_half_width * 0.55, 0.009)), 90)
    put(0, ellipse(lm[8] + vec(0, -0.006), (0.09, 0.012)), 40)
    put(1, ellipse(lm[29], (0.008, 0.04)), 110)
    put(1, ellipse(lm[30] + vec(0, -0.004), (0.012, 0.009)), 150)
    put(1, ellipse([0.5, ident.hairline_y + 0.08], (0.09, 0.04)), 60)
    put(1, ellipse(lm[57] + vec(0, -0.004), (ident.mouth_half_width * 0.3, 0.004)), 120)
    soft = cv2.GaussianBlur(np.moveaxis(maps, 0, -1), (0, 0), 0.006 * cv.unit)
    soft = soft.astype(np.float32) * np.float32(1 / 255)
    skin *= (1 - 0.32 * soft[..., 0])[..., None]
    skin += (255 - skin) * (0.22 * soft[..., 1])[..., None]


def _eyes(cv: Canvas, ident: Identity, geom: Geometry) -> None:
    """Sclera shaded under the lid, iris with rim, pupil and glint, lashes, crease."""
    ew = ident.eye_width
    lash = shade(ident.brow_colour, 0.45) + 12
    for k, side in enumerate((-1, 1)):
        outline = cv.px(geom.eyes[k])
        win = cv.window(outline)
        if win is None:
            continue
        ys, xs, origin, coverage = win
        layer = np.empty((*coverage.shape, 3), np.uint8)
        layer[:] = _SCLERA.astype(np.uint8)
        centre = np.array([0.5 + side * ident.eye_spacing, ident.eye_y])
        r = ident.iris_ratio * ew / 2
        iris = np.asarray(ident.iris_colour)
        for radius, colour in ((1.0, iris * 0.55), (0.85, iris), (0.5, iris * 0.75),
                               (0.38, (12, 10, 10))):
            pts = fixed(cv.px(ellipse(centre, (radius * r, radius * r))), origin)
            cv2.fillPoly(layer, [pts], rgb(colour), cv2.LINE_AA, SHIFT)
        glint = fixed(cv.px(ellipse(centre + vec(-0.3 * r, -0.35 * r), (0.17 * r, 0.17 * r))),
                       origin)
        cv2.fillPoly(layer, [glint], (250, 250, 250), cv2.LINE_AA, SHIFT)
        top = outline[:, 1].min()
        height = outline[:, 1].max() - top
        rows = np.arange(ys.start, ys.stop, dtype=np.float32)[:, None, None]
        lid_shadow = 0.72 + 0.28 * np.clip((rows - top) / (0.55 * height + 1e-6), 0, 1)
        cv.blend(ys, xs, to_uint8(layer * lid_shadow), coverage)
        upper = geom.upper_lids[k]
        crease = upper + vec(0, -0.32 * ident.eye_open * ew)
        cv.stroke([crease[2:-2]], shade(ident.skin_colour, 0.72), 0.004, 0.6)
        wing = upper[0 if side < 0 else -1] + np.array([[0, 0], [side * 0.01, -0.006]])
        cv.stroke([upper, wing], lash, 0.0058)
        cv.stroke([geom.lower_lids[k]], shade(ident.skin_colour, 0.6), 0.0025, 0.7)


def _nose(cv: Canvas, ident: Identity, geom: Geometry, skin: np.ndarray) -> None:
    """Nostrils and the soft creases of the nose wings."""
    lm, nw = geom.landmarks, ident.nose_half_width
    for side in (-1, 1):
        nostril = ellipse(lm[33] + vec(side * 0.38 * nw, -0.004), (0.011, 0.0055), side * 0.3)
        cv.fill(nostril, shade(skin, 0.32))
        ala = smooth_curve(np.array([lm[33] + vec(side * 0.55 * nw, -0.001),
                                     lm[33] + vec(side * 1.0 * nw, -0.008),
                                     lm[30] + vec(side * 0.95 * nw, -0.006),
                                     lm[30] + vec(side * 0.6 * nw, -0.03)]), 4)
        cv.stroke([ala], shade(skin, 0.62), 0.0035, 0.55)


def _lips(cv: Canvas, ident: Identity, geom: Geometry) -> None:
    """Upper lip darker than the lower one, a highlight, and the closed mouth line."""
    lip = np.asarray(ident.lip_colour, np.float32)
    cv.fill(geom.upper_lip, lip * 0.86)
    cv.fill(geom.lower_lip, lip)
    cv.fill(ellipse(geom.landmarks[57] + vec(0, -0.45 * ident.lower_lip),
                     (ident.mouth_half_width * 0.35, ident.lower_lip * 0.22)),
            np.minimum(lip * 1.25, 255), 0.6)
    cv.stroke([geom.lip_line], lip * 0.5, 0.0045)


def _beard(cv: Canvas, rng, ident: Identity, geom: Geometry) -> None:
    """A full beard or stubble along the jaw: strands in three tones (lips go on top)."""
    lm, w = geom.landmarks, ident.face_half_width
    mw, ty, my = ident.mouth_half_width, ident.nose_tip_y, ident.mouth_y
    centre = np.array([0.5, ident.eye_y])
    jaw = centre + (lm[2:15] - centre) * 1.015
    upper = np.array([[0.5 + 0.75 * w, ty + 0.02], [0.5 + mw + 0.03, my - 0.035],
                      [0.5 + 0.45 * mw, ty + 0.035], [0.5 - 0.45 * mw, ty + 0.035],
                      [0.5 - mw - 0.03, my - 0.035], [0.5 - 0.75 * w, ty + 0.02]])
    region = np.vstack([jaw, upper])
    beard = np.asarray(ident.beard_colour, np.float32)
    stubble = ident.beard == "stubble"
    count = 500 if stubble else 700
    lo, hi = region.min(0), region.max(0)
    strokes = []
    for tone, lift in ((0.6, 0), (1.0, 0), (1.4, 18)):  # lift: grey hairs in dark beards
        length = (0.004, 0.008) if stubble else (0.012, 0.024)
        lines = strands(rng, count // 3, (lo, hi), np.pi / 2, 0.5, length, 0.6)
        strokes.append((lines, shade(beard, tone) + lift, 0.0022))
    cv.textured(smooth_curve(region, 3, closed=True), beard if not stubble else
                shade(beard, 1.1), strokes, 0.4 if stubble else 0.92)


def _moustache(cv: Canvas, rng, ident: Identity, geom: Geometry) -> None:
    """Strands between the nose and the upper lip, overlapping the lip a little."""
    lm, nw = geom.landmarks, ident.nose_half_width
    region = np.array([lm[48] + vec(-0.012, 0.004), lm[33] + vec(-0.6 * nw, 0.004),
                       lm[33] + vec(0.6 * nw, 0.004), lm[54] + vec(0.012, 0.004),
                       lm[53] + vec(0.0, -0.002), lm[51] + vec(0, -0.004),
                       lm[49] + vec(0.0, -0.002)])
    region = smooth_curve(region, 3, closed=True)
    beard = np.asarray(ident.beard_colour, np.float32)
    lo, hi = region.min(0), region.max(0)
    strokes = [(strands(rng, 120, (lo, hi), np.pi / 2, 0.6, (0.01, 0.02), 0.4),
                shade(beard, tone), 0.0022) for tone in (0.7, 1.3)]
    cv.textured(region, beard, strokes, 0.95)


def _glasses(cv: Canvas, ident: Identity) -> None:
    """Oval rims with a faint tint and reflection, a bridge and temples to the ears."""
    ew, w = ident.eye_width, ident.face_half_width
    frame = np.asarray(ident.frame_colour, np.float32)
    rims, inner = [], []
    for side in (-1, 1):
        c = np.array([0.5 + side * ident.eye_spacing, ident.eye_y + 0.006])
        rim = ellipse(c, (ew * 0.78, ew * 0.56), 0, 48)
        cv.fill(rim, (235, 240, 250), 0.12)
        streak = np.array([c + vec(-0.4 * ew, -0.1 * ew), c + vec(-0.15 * ew, -0.42 * ew),
                           c + vec(-0.05 * ew, -0.36 * ew), c + vec(-0.3 * ew, -0.02 * ew)])
        cv.fill(streak, (255, 255, 255), 0.18)
        rims.append(np.vstack([rim, rim[:1]]))
        inner.append(c + vec(-side * ew * 0.78, -0.004))
        outer = c + vec(side * ew * 0.78, -0.006)
        rims.append(np.array([outer, [0.5 + side * (w + 0.01), ident.eye_y + 0.01]]))
    bridge = smooth_curve(np.array([inner[0], [0.5, ident.eye_y - 0.006], inner[1]]), 4)
    cv.stroke([*rims, bridge], frame, 0.008)
