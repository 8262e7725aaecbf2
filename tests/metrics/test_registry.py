"""The metric registry: names, lookups and the errors people see."""

import pytest

from defgan_tf.metrics import METRICS, MetricOptions, MetricUnavailableError, build_metric


def test_every_issue_metric_is_registered():
    assert set(METRICS) == {"au_error", "identity", "concentration", "fid", "kid",
                            "ground_truth", "flow_error", "warp_parts", "critic_au_error"}


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match=r"unknown metric 'flow_eror'.*Did you mean flow_error\?"):
        build_metric("flow_eror")


@pytest.mark.parametrize("name, option", [("au_error", "--au-regressor"),
                                          ("fid", "--inception-weights"),
                                          ("kid", "--inception-weights")])
def test_missing_file_names_the_option(name, option):
    with pytest.raises(MetricUnavailableError, match=option) as caught:
        build_metric(name, MetricOptions())
    assert caught.value.fix == option


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(MetricUnavailableError, match="InceptionV3 weights not found: .*nope.h5"):
        build_metric("fid", MetricOptions(inception_weights=str(tmp_path / "nope.h5")))
