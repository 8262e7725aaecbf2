"""Hand-made EditSets for metric tests: 8×8 faces whose answers can be computed by hand."""

import numpy as np
import pytest

from defgan_tf.aus import NUM_AUS, au_index
from defgan_tf.metrics.edit_set import EditSet


def make_edits(n: int = 2, size: int = 8, **fields) -> EditSet:
    """An EditSet of `n` grey faces where the edit changes AU12 (region: left half)."""
    inputs = np.zeros((n, size, size, 3), np.float32)
    source = np.zeros((n, NUM_AUS), np.float32)
    target = source.copy()
    target[:, au_index("AU12")] = 1.0
    regions = np.zeros((n, size, size, NUM_AUS), bool)
    regions[:, :, : size // 2, au_index("AU12")] = True
    regions[:, :2, :, au_index("AU01")] = True  # an AU the edit does not change
    defaults = dict(inputs=inputs, source_aus=source, target_aus=target,
                    expressions=tuple("happy" if i % 2 == 0 else "sad" for i in range(n)),
                    edited=inputs, deformed=inputs,
                    flow=np.zeros((n, size, size, 2), np.float32),
                    targets=inputs, true_flow=np.zeros((n, size, size, 2), np.float32),
                    regions=regions)
    return EditSet(**{**defaults, **fields})


@pytest.fixture
def edits_factory():
    return make_edits
