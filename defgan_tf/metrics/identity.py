"""`identity`: face-descriptor distance between each input and its edit (paper Fig. 3).

The dlib ResNet descriptor (the `faces` extra); dlib calls two faces the same person
below a Euclidean distance of 0.6. Skipped with a reason when the extra is missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from defgan_tf.metrics.edit_set import EditSet, group_mean
from defgan_tf.metrics.registry import Metric, MetricOptions, MetricUnavailableError, register

SAME_PERSON_DISTANCE = 0.6  # dlib's threshold on raw descriptors


def descriptor_distances(embed, first: np.ndarray, second: np.ndarray,
                         batch_size: int = 32) -> np.ndarray:
    """Euclidean distance between the descriptors of paired images.

    Args:
        embed: images (B, S, S, 3) in [-1, 1] → (B, D) descriptors.
        first, second: (N, S, S, 3) float32 in [-1, 1].

    Returns:
        (N,) float64 distances.
    """
    distances = []
    for start in range(0, len(first), batch_size):
        a = np.asarray(embed(first[start:start + batch_size]))
        b = np.asarray(embed(second[start:start + batch_size]))
        distances.append(np.linalg.norm(a - b, axis=-1))
    return np.concatenate(distances).astype(np.float64)


@register
class IdentityDistance(Metric):
    """Mean descriptor distance input ↔ edit, overall and per target expression.

    Args:
        embed: images in [-1, 1] → descriptors (e.g. FaceEmbedder.embed).
    """

    name = "identity"

    def __init__(self, embed) -> None:
        self.embed = embed

    @classmethod
    def from_options(cls, options: MetricOptions) -> IdentityDistance:
        from defgan_tf.config import ConfigError
        from defgan_tf.identity import build_embedder

        try:
            embedder = build_embedder(options.embedder)
        except ConfigError as error:  # no `faces` extra, a missing or broken model file
            raise MetricUnavailableError(
                f"identity: the {options.embedder!r} face descriptor could not be loaded: "
                f"{error}") from None
        if embedder is None:
            raise MetricUnavailableError("identity: embedder 'none' measures nothing.")
        return cls(lambda images: embedder.embed(images).numpy())

    def __call__(self, edits: EditSet) -> dict[str, Any]:
        """Returns mean distance, share under dlib's 0.6 threshold, per expression."""
        distances = descriptor_distances(self.embed, edits.inputs, edits.edited)
        return {"distance": float(distances.mean()),
                "same_person_rate": float((distances < SAME_PERSON_DISTANCE).mean()),
                "per_expression": group_mean(distances, edits.expressions)}
