"""Evaluation metrics, registered by name (`build_metric("au_error", options)`).

Each metric is a callable on an EditSet (inputs, targets, the model's outputs and, on
synthetic data, the rendered truth). Importing this package registers all of them.
The AU regressor that `au_error` needs lives in `defgan_tf.metrics.au_regressor`
(not imported here, so that `python -m defgan_tf.metrics.au_regressor` runs cleanly).
"""

from defgan_tf.metrics import (  # noqa: F401  (importing registers each metric)
    au_error,
    concentration,
    fid,
    flow_error,
    ground_truth,
    identity,
    warp_parts,
)
from defgan_tf.metrics.edit_set import EditSet, synthetic_edit_set
from defgan_tf.metrics.registry import (
    METRICS,
    Metric,
    MetricOptions,
    MetricUnavailableError,
    build_metric,
    check_metric_names,
    register,
)

__all__ = ["METRICS", "EditSet", "Metric", "MetricOptions", "MetricUnavailableError",
           "build_metric", "check_metric_names", "register", "synthetic_edit_set"]
