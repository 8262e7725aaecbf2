"""tf.distribute strategies by name (`train.strategy`); nothing home-made."""

from __future__ import annotations

import tensorflow as tf

from defgan_tf.config import ConfigError


def make_strategy(name: str, tpu: str | None = None) -> tf.distribute.Strategy:
    """Returns the strategy for `train.strategy`.

    Args:
        name: "default" (one device), "mirrored" (all local GPUs, or the CPU),
            "multi_worker" (MultiWorkerMirrored; reads the cluster from TF_CONFIG), "tpu".
        tpu: TPU address for "tpu" (None = the local/auto-detected TPU).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ConfigError(f"unknown train.strategy {name!r}; valid: default, mirrored, "
                      "multi_worker, tpu.")


def is_chief() -> bool:
    """True on the worker that writes checkpoints, logs and samples (worker 0 / no cluster)."""
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, "chief") or (task_type == "worker" and task_id == 0
                                            and "chief" not in resolver.cluster_spec().jobs)
