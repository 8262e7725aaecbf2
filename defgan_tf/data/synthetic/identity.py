"""Identity parameters of a synthetic face, drawn reproducibly from one integer seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Colour = tuple[float, float, float]

# RGB palettes, 0-255. Skin runs from light to deep tones; hair from black to grey.
_SKIN = ((247, 214, 190), (236, 190, 160), (224, 172, 135), (198, 145, 105),
         (160, 110, 75), (120, 80, 55), (90, 60, 42))
_HAIR = ((28, 24, 22), (55, 38, 28), (92, 62, 40), (128, 84, 50), (150, 70, 35),
         (190, 150, 95), (215, 190, 140), (140, 136, 132), (200, 198, 195))
_IRIS = ((70, 42, 25), (105, 66, 38), (120, 100, 50), (70, 110, 70), (70, 110, 160),
         (110, 130, 150))
_FRAME = ((20, 20, 25), (90, 50, 30), (150, 150, 160), (120, 30, 40))
HAIR_STYLES = ("short", "long", "curly", "receding")
BEARDS = ("none", "moustache", "full", "stubble")


@dataclass(frozen=True)
class Identity:
    """Everything about a face that no expression changes.

    Lengths are in canonical units: the image spans [0, 1] in x and y before the pose
    jitter (`roll`, `scale`, `shift`) is applied. Colours are RGB in 0-255.
    """

    seed: int
    face_half_width: float
    chin_y: float
    jaw_squareness: float
    eye_y: float
    eye_spacing: float
    eye_width: float
    eye_open: float
    eye_tilt: float
    iris_colour: Colour
    iris_ratio: float
    brow_gap: float
    brow_thickness: float
    brow_arch: float
    brow_colour: Colour
    nose_tip_y: float
    nose_half_width: float
    mouth_y: float
    mouth_half_width: float
    upper_lip: float
    lower_lip: float
    lip_colour: Colour
    skin_colour: Colour
    hair_colour: Colour
    hair_style: str
    hairline_y: float
    beard: str
    beard_colour: Colour
    glasses: bool
    frame_colour: Colour
    background: tuple[Colour, Colour]
    shirt_colour: Colour
    light_angle: float
    light_strength: float
    roll: float
    scale: float
    shift: tuple[float, float]


def _jitter(rng: np.random.Generator, colour, amount: float) -> Colour:
    values = np.clip(np.asarray(colour, float) + rng.normal(0.0, amount, 3), 0, 255)
    return tuple(float(v) for v in values)


def _mix(a, b, t: float) -> Colour:
    return tuple(float((1 - t) * x + t * y) for x, y in zip(a, b))


def make_identity(seed: int) -> Identity:
    """Draws one face's identity; the same seed always gives the same face.

    Args:
        seed: any non-negative integer.

    Returns:
        A frozen, hashable `Identity` (usable as a cache key).

    Raises:
        ValueError: a negative or non-integer seed.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer. Received: seed={seed!r}")
    rng = np.random.default_rng([int(seed), 0x5EED])
    u = rng.uniform
    skin = _jitter(rng, _SKIN[rng.integers(len(_SKIN))], 6)
    hair = _jitter(rng, _HAIR[rng.integers(len(_HAIR))], 6)
    style = HAIR_STYLES[rng.choice(4, p=(0.4, 0.3, 0.15, 0.15))]
    beard = BEARDS[rng.choice(4, p=(0.55, 0.15, 0.15, 0.15))]
    # Beards stay lighter than the mouth interior, so the interior is always new texture.
    beard_colour = tuple(max(c, 45.0) for c in _mix(hair, (60, 45, 35), 0.2))
    bg_a = tuple(float(c) for c in rng.uniform(40, 230, 3))
    return Identity(
        seed=int(seed),
        face_half_width=u(0.255, 0.30),
        chin_y=u(0.89, 0.94),
        jaw_squareness=u(2.0, 3.2),
        eye_y=u(0.415, 0.45),
        eye_spacing=u(0.118, 0.138),
        eye_width=u(0.082, 0.098),
        eye_open=u(0.34, 0.44),
        eye_tilt=u(-0.04, 0.08),
        iris_colour=_jitter(rng, _IRIS[rng.integers(len(_IRIS))], 8),
        iris_ratio=u(0.44, 0.52),
        brow_gap=u(0.055, 0.07),
        brow_thickness=u(0.010, 0.022),
        brow_arch=u(0.006, 0.022),
        brow_colour=_mix(hair, (30, 25, 20), u(0.2, 0.6)),
        nose_tip_y=u(0.60, 0.64),
        nose_half_width=u(0.042, 0.058),
        mouth_y=u(0.735, 0.765),
        mouth_half_width=u(0.075, 0.095),
        upper_lip=u(0.013, 0.02),
        lower_lip=u(0.017, 0.026),
        lip_colour=_mix(skin, _jitter(rng, (185, 80, 85), 10), u(0.35, 0.6)),
        skin_colour=skin,
        hair_colour=hair,
        hair_style=style,
        hairline_y=u(0.17, 0.24) if style != "receding" else u(0.08, 0.12),
        beard=beard,
        beard_colour=beard_colour,
        glasses=bool(rng.uniform() < 0.2),
        frame_colour=_jitter(rng, _FRAME[rng.integers(len(_FRAME))], 5),
        background=(bg_a, _mix(bg_a, tuple(rng.uniform(40, 230, 3)), 0.6)),
        shirt_colour=tuple(float(c) for c in rng.uniform(30, 220, 3)),
        light_angle=u(-np.pi, np.pi),
        light_strength=u(0.08, 0.22),
        roll=u(-5.0, 5.0),
        scale=u(0.95, 1.05),
        shift=(u(-0.025, 0.025), u(-0.02, 0.02)),
    )
