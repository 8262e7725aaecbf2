"""The learning-rate schedule: constant, then linear decay to 0."""

import pytest

from defgan_tf.training.schedules import ConstantThenLinearDecay


def test_constant_then_linear_to_zero():
    schedule = ConstantThenLinearDecay(1e-4, total_steps=100, decay_steps=40)
    values = [float(schedule(step)) for step in (0, 59, 60, 80, 100, 150)]
    assert values == pytest.approx([1e-4, 1e-4, 1e-4, 0.5e-4, 0.0, 0.0])


def test_no_decay_and_round_trip():
    schedule = ConstantThenLinearDecay(2e-4, total_steps=10, decay_steps=0)
    assert float(schedule(10_000)) == pytest.approx(2e-4)
    clone = ConstantThenLinearDecay.from_config(schedule.get_config())
    assert clone.get_config() == schedule.get_config()


def test_decay_longer_than_run_is_an_error():
    with pytest.raises(ValueError, match=r"decay_steps must be in \[0, total_steps=10\]. "
                                         r"Received: decay_steps=11"):
        ConstantThenLinearDecay(1e-4, total_steps=10, decay_steps=11)
