"""Learning-rate schedule: constant, then linear decay to 0 (DESIGN.md §4)."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="defgan_tf")
class ConstantThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr for `total_steps − decay_steps` optimizer steps, then linearly down to 0.

    Args:
        initial_lr: the constant learning rate.
        total_steps: optimizer steps of the whole run (the critic's optimizer takes
            n_critic steps per generator step, so its total is n_critic × larger).
        decay_steps: steps of the final linear decay; 0 keeps the lr constant.
    """

    def __init__(self, initial_lr: float, total_steps: int, decay_steps: int):
        if not 0 <= decay_steps <= total_steps:
            raise ValueError(f"decay_steps must be in [0, total_steps={total_steps}]. "
                             f"Received: decay_steps={decay_steps}")
        self.initial_lr, self.total_steps, self.decay_steps = (
            float(initial_lr), int(total_steps), int(decay_steps))

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        if self.decay_steps == 0:
            return tf.constant(self.initial_lr, tf.float32)
        start = float(self.total_steps - self.decay_steps)
        fraction = tf.clip_by_value((step - start) / float(self.decay_steps), 0.0, 1.0)
        return self.initial_lr * (1.0 - fraction)

    def get_config(self):
        return {"initial_lr": self.initial_lr, "total_steps": self.total_steps,
                "decay_steps": self.decay_steps}
