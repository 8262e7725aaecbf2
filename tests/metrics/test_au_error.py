"""au_error with a regressor whose answers are known."""

import numpy as np
import pytest

from defgan_tf.aus import au_index
from defgan_tf.metrics import MetricOptions, MetricUnavailableError, build_metric
from defgan_tf.metrics.au_error import AUError, reading_slope


class ConstantRegressor:
    """Measures AU12 = 0.75 and nothing else on every image."""

    def predict(self, images):
        aus = np.zeros((len(images), 17), np.float32)
        aus[:, au_index("AU12")] = 0.75
        return aus


def test_errors_per_au_and_expression(edits_factory):
    edits = edits_factory()  # targets: AU12 = 1, everything else 0
    target = edits.target_aus.copy()
    target[1, au_index("AU01")] = 0.34  # the 'sad' edit also asks for AU01
    result = AUError(ConstantRegressor())(edits_factory(target_aus=target))
    assert result["per_au"]["AU12"] == pytest.approx(0.25)
    assert result["per_au"]["AU01"] == pytest.approx(0.17)
    assert result["per_expression"] == {"happy": pytest.approx(0.25 / 17),
                                        "sad": pytest.approx(0.59 / 17)}
    assert result["mae"] == pytest.approx(0.84 / 34)
    assert result["slope"] == 0.0  # AU01 varies; the constant reading has no slope


def test_critic_au_error_reads_the_models_own_head_in_batches(edits_factory):
    calls = []

    def head(images):  # reads AU12 as the image's mean value
        calls.append(len(images))
        aus = np.zeros((len(images), 17), np.float32)
        aus[:, au_index("AU12")] = images.mean(axis=(1, 2, 3))
        return aus

    edits = edits_factory(n=5, edited=np.full((5, 8, 8, 3), 0.6, np.float32))
    metric = build_metric("critic_au_error", MetricOptions(critic=head))
    metric.regressor.batch_size = 2
    assert metric(edits)["per_au"]["AU12"] == pytest.approx(0.4)  # target 1, read 0.6
    assert calls == [2, 2, 1]
    with pytest.raises(MetricUnavailableError, match="the model's AU head") as error:
        build_metric("critic_au_error", MetricOptions())
    assert error.value.fix is None  # skipped, not an error, when the model has no head


def test_reading_slope_is_the_mean_least_squares_slope_over_varying_aus():
    target = np.zeros((4, 17))
    target[:, 0] = [0.0, 0.2, 0.6, 1.0]
    target[:, 1] = [0.1, 0.3, 0.5, 0.9]
    measured = np.zeros((4, 17))
    measured[:, 0] = 0.5 * target[:, 0] + 0.1  # shrunk to half
    measured[:, 1] = 2.0 * target[:, 1]  # exaggerated
    measured[:, 2] = [0.3, 0.1, 0.0, 0.2]  # target constant: left out
    assert reading_slope(measured, target) == pytest.approx(1.25)
    assert np.isnan(reading_slope(measured, np.zeros((4, 17))))
