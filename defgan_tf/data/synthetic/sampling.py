"""AU vectors distributed the way real face datasets are: mostly near-neutral, some posed."""

from __future__ import annotations

import numpy as np

from defgan_tf.aus import NUM_AUS, PRESETS, au_index

# AUs that fire together in spontaneous expressions: (trigger, partner, probability).
CO_OCCURRENCE = (("AU06", "AU12", 0.8), ("AU12", "AU06", 0.6), ("AU01", "AU02", 0.7),
                 ("AU02", "AU01", 0.8), ("AU26", "AU25", 0.9), ("AU25", "AU26", 0.5))
# Shares of the three kinds of sample.
MIXTURE = {"near_neutral": 0.45, "preset": 0.30, "sparse": 0.25}


def _near_neutral(rng: np.random.Generator) -> np.ndarray:
    aus = np.zeros(NUM_AUS)
    on = rng.uniform(size=NUM_AUS) < 0.15
    aus[on] = rng.uniform(0.02, 0.25, on.sum())
    return aus


def _co_occur(rng: np.random.Generator, aus: np.ndarray) -> np.ndarray:
    for trigger, partner, p in CO_OCCURRENCE:
        t, q = au_index(trigger), au_index(partner)
        if aus[t] > 0.1 and aus[q] < 0.1 and rng.uniform() < p:
            aus[q] = np.clip(aus[t] + rng.normal(0, 0.15), 0.1, 1.0)
    return aus


def _preset(rng: np.random.Generator, names: list[str]) -> np.ndarray:
    base = PRESETS[names[rng.integers(len(names))]]
    aus = base * rng.uniform(0.5, 1.0)
    active = base > 0
    aus[active] += rng.normal(0.0, 0.08, active.sum())
    return _co_occur(rng, aus + _near_neutral(rng) * 0.5)


def _sparse(rng: np.random.Generator) -> np.ndarray:
    aus = np.zeros(NUM_AUS)
    chosen = rng.choice(NUM_AUS, size=rng.integers(1, 5), replace=False)
    aus[chosen] = rng.uniform(0.2, 1.0, len(chosen))
    return _co_occur(rng, aus)


def sample_aus(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draws `n` AU vectors: near-neutral faces, jittered EMFACS presets, sparse activations.

    Presets and sparse activations follow `CO_OCCURRENCE` (AU06 with AU12, AU01 with
    AU02, AU25 with AU26). Values are rounded to 0.001 so that CSV files store them exactly.

    Args:
        rng: the generator to draw from (the caller owns reproducibility).
        n: number of vectors.

    Returns:
        (n, 17) float32 in [0, 1], AU_CODES order.
    """
    names = [name for name in PRESETS if name != "neutral"]
    kinds = rng.choice(len(MIXTURE), size=n, p=list(MIXTURE.values()))
    draw = (_near_neutral, lambda r: _preset(r, names), _sparse)
    out = np.stack([draw[k](rng) for k in kinds]) if n else np.zeros((0, NUM_AUS))
    return np.round(np.clip(out, 0.0, 1.0), 3).astype(np.float32)
