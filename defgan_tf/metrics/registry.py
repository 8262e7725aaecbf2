"""Metrics registered by name, so the evaluation CLI and training callbacks share one code path.

A metric is a callable `EditSet -> dict` built from `MetricOptions` by its class's
`from_options`; `register` files the class under its `name`, `build_metric` looks it up.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from defgan_tf.config import did_you_mean
from defgan_tf.metrics.edit_set import EditSet


class MetricUnavailableError(RuntimeError):
    """A metric cannot run here: a missing file, optional extra or ground truth.

    Attributes:
        fix: the command-line option that would make it available, or None when only
            the environment or the data can (then callers skip the metric and say why).
    """

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.fix = fix


@dataclass
class MetricOptions:
    """What metrics may need besides the edits.

    Attributes:
        au_regressor: `.keras` file of the independent AU regressor (au_error).
        inception_weights: InceptionV3 no-top `.h5`/`.weights.h5` file (fid, kid).
        embedder: identity embedder name (identity), see defgan_tf.identity.
        kid_subset_size: images per KID subset (smaller sets use all images).
        critic: the evaluated model's own AU reading, (B, S, S, 3) → (B, 17)
            (`Backend.estimate_aus`; critic_au_error).
    """

    au_regressor: str | None = None
    inception_weights: str | None = None
    embedder: str = "dlib_resnet"
    kid_subset_size: int = 100
    critic: Callable[[np.ndarray], np.ndarray] | None = None


class Metric(abc.ABC):
    """One measurement of a set of edits.

    Class attributes:
        name: the registry key, also the key of its results in metrics.json.
        needs_ground_truth: only defined on synthetic data (EditSet.targets present).
    """

    name: str = ""
    needs_ground_truth: bool = False

    @classmethod
    def from_options(cls, options: MetricOptions) -> Metric:
        """Builds the metric; raises MetricUnavailableError when a requirement is missing."""
        return cls()

    @abc.abstractmethod
    def __call__(self, edits: EditSet) -> dict[str, Any]:
        """Measures `edits`; returns JSON-ready numbers (nested dicts of floats)."""


METRICS: dict[str, type[Metric]] = {}


def register(cls: type[Metric]) -> type[Metric]:
    """Class decorator filing a Metric subclass under `cls.name`."""
    if not cls.name or cls.name in METRICS:
        raise ValueError(f"metric name must be unique and non-empty. Received: {cls.name!r}")
    METRICS[cls.name] = cls
    return cls


def check_metric_names(names: list[str]) -> list[str]:
    """Validates metric names against the registry (closest match in the message)."""
    for name in names:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}. Valid: {', '.join(sorted(METRICS))}."
                             f"{did_you_mean(name, METRICS, cutoff=0.5)}")
    return names


def build_metric(name: str, options: MetricOptions | None = None) -> Metric:
    """The registered metric `name`, built with `options` (defaults when None)."""
    check_metric_names([name])
    return METRICS[name].from_options(options or MetricOptions())
