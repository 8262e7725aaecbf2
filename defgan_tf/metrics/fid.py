"""`fid` and `kid`: distances between InceptionV3 pool features of real faces and edits.

The weights come from a file (`--inception-weights`, Keras' no-top InceptionV3 `.h5`):
nothing is downloaded at run time. Features are computed batch by batch and only the
(N, 2048) feature matrices are kept. With the few hundred images a CPU evaluation
affords, FID is biased upward; compare runs at the same image count, or read KID
(unbiased).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from defgan_tf.metrics.edit_set import EditSet
from defgan_tf.metrics.registry import Metric, MetricOptions, MetricUnavailableError, register

INCEPTION_SIZE = 299
FEATURE_SIZE = 2048


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (negative eigenvalues → 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    d² = |mu1 − mu2|² + tr(sigma1 + sigma2 − 2 (sigma1^½ sigma2 sigma1^½)^½), computed
    with symmetric eigendecompositions (no complex sqrtm round-off).
    """
    root1 = _sqrt_psd(np.asarray(sigma1, np.float64))
    cross = _sqrt_psd(root1 @ np.asarray(sigma2, np.float64) @ root1)
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(cross))


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two (N, D) feature sets (sample means and covariances)."""
    return frechet_distance(real.mean(0), np.cov(real, rowvar=False),
                            fake.mean(0), np.cov(fake, rowvar=False))


def kid_from_features(real: np.ndarray, fake: np.ndarray, subset_size: int = 100,
                      subsets: int = 50, seed: int = 0) -> float:
    """Kernel Inception Distance: unbiased MMD² with the kernel (x·y / D + 1)³.

    Averaged over `subsets` random subsets of min(subset_size, N) images of each set.
    """
    rng = np.random.default_rng(seed)
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f"KID needs at least 2 images per set. Received {len(real)} real "
                         f"and {len(fake)} generated.")
    dim = real.shape[1]
    estimates = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)].astype(np.float64)
        y = fake[rng.choice(len(fake), size, replace=False)].astype(np.float64)
        kxx, kyy, kxy = ((x @ x.T / dim + 1) ** 3, (y @ y.T / dim + 1) ** 3,
                         (x @ y.T / dim + 1) ** 3)
        off = size * (size - 1)
        estimates.append((kxx.sum() - np.trace(kxx)) / off
                         + (kyy.sum() - np.trace(kyy)) / off - 2 * kxy.mean())
    return float(np.mean(estimates))


def inception_features(weights: str | Path, batch_size: int = 32
                       ) -> Callable[[np.ndarray], np.ndarray]:
    """A function (N, S, S, 3) in [-1, 1] → (N, 2048) InceptionV3 pool features.

    Raises:
        MetricUnavailableError: the file is missing, or is not no-top InceptionV3 weights
            (corrupt, truncated, another network's).
    """
    path = Path(weights)
    if not path.is_file():
        raise MetricUnavailableError(f"InceptionV3 weights not found: {path}. Pass the no-top "
                                "InceptionV3 .h5 file to --inception-weights.",
                                fix="--inception-weights")
    import keras
    import tensorflow as tf

    model = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                           input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3))
    try:
        model.load_weights(str(path))
    except (OSError, ValueError) as error:  # h5py's "file signature not found", layer counts
        reason = str(error).splitlines()[0]  # Keras lists every layer that did not load
        raise MetricUnavailableError(
            f"{path} is not a readable no-top InceptionV3 weights file ({reason}). Pass Keras' "
            "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5 to --inception-weights.",
            fix="--inception-weights") from None

    def features(images: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(images), batch_size):
            batch = tf.image.resize(images[start:start + batch_size],
                                    [INCEPTION_SIZE, INCEPTION_SIZE], method="bilinear")
            out.append(model(batch, training=False).numpy())  # InceptionV3 expects [-1, 1]
        return np.concatenate(out)

    return features


class _FeatureDistance(Metric):
    """Shared set-up of fid and kid: features of a reference set vs the edits.

    The reference is the true target renders on synthetic data (so "no edit" scores
    above zero), else the inputs.
    """

    distance: Callable[[np.ndarray, np.ndarray], float]

    def __init__(self, features: Callable[[np.ndarray], np.ndarray]) -> None:
        self.features = features

    @classmethod
    def from_options(cls, options: MetricOptions) -> _FeatureDistance:
        if options.inception_weights is None:
            raise MetricUnavailableError(
                f"{cls.name} needs InceptionV3 weights (no download at run time): pass "
                "--inception-weights FILE (Keras' inception_v3_weights_tf_dim_ordering_"
                "tf_kernels_notop.h5).", fix="--inception-weights")
        return cls(inception_features(options.inception_weights))

    def __call__(self, edits: EditSet) -> dict[str, Any]:
        """Returns the distance, the reference used and the image count."""
        reference = "targets" if edits.targets is not None else "inputs"
        real = self.features(edits.targets if edits.targets is not None else edits.inputs)
        return {"value": self.distance(real, self.features(edits.edited)),
                "reference": reference, "images": len(edits)}


@register
class FID(_FeatureDistance):
    """Fréchet Inception Distance, inputs vs edits."""

    name = "fid"
    distance = staticmethod(fid_from_features)


@register
class KID(_FeatureDistance):
    """Kernel Inception Distance, inputs vs edits (unbiased for small sets)."""

    name = "kid"
    distance = staticmethod(kid_from_features)
