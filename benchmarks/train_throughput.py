"""Training throughput per config and mode, and its share of the float32 matmul peak (JSON).

    python benchmarks/train_throughput.py                      # quickstart, both modes
    python benchmarks/train_throughput.py --configs configs/quickstart.yaml configs/paper.yaml

One "step" is one generator step with its n_critic critic steps (each on its own batch),
so images/s counts the faces read: batch × n_critic per step. FLOPs per step come from
TF's graph profiler on the traced gradient functions; the peak is a float32 matmul
measured in the same process, so the share compares like with like on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as defgan_tf/train.py does

import keras
import numpy as np
import tensorflow as tf

from defgan_tf.arguments import one_of, positive_int
from defgan_tf.aus import NUM_AUS
from defgan_tf.config import Config, ConfigError, load_config
from defgan_tf.models import build_defgan
from defgan_tf.models.defgan import MODES
from defgan_tf.models.summary import count_flops
from defgan_tf.training.loop import OPTIMIZER_NAMES, make_adam


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """Best float32 matmul rate of this machine, GFLOP/s."""
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    matmul = tf.function(lambda x, y: tf.matmul(x, y))
    matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def step_flops(model, batch: int, size: int, n_critic: int) -> int:
    """FLOPs of one generator step and its n_critic critic steps (gradients included)."""
    image = tf.TensorSpec((batch, size, size, 3), tf.float32)
    aus = tf.TensorSpec((batch, NUM_AUS), tf.float32)
    critic = count_flops(lambda i, s, t: model._critic_gradients(i, s, t)[1]["d_loss"],
                         image, aus, aus)
    generator = count_flops(lambda i, s, t: model._generator_gradients(i, s, t)[1]["g_loss"],
                            image, aus, aus)
    return n_critic * critic + generator


def measure(config: Config, config_path: str, mode: str, steps: int) -> dict:
    precision = config.train.mixed_precision
    # As the training loop does: a global policy before building, loss scaling in float16.
    keras.mixed_precision.set_global_policy("float32" if precision == "none" else precision)
    try:
        return _measure_built(config, config_path, mode, steps)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _measure_built(config, config_path: str, mode: str, steps: int) -> dict:
    keras.utils.set_random_seed(0)
    model = build_defgan(config, with_embedder=False)
    model.compile(d_optimizer=make_adam(config, 1e-4, OPTIMIZER_NAMES["critic"]),
                  g_optimizer=make_adam(config, 1e-4, OPTIMIZER_NAMES["generator"]))
    n, b, s = config.train.n_critic, config.train.batch_size, config.model.image_size
    rng = np.random.default_rng(0)
    data = {"image": tf.constant(rng.uniform(-1, 1, (n, b, s, s, 3)), tf.float32),
            "source_aus": tf.constant(rng.uniform(0, 1, (n, b, NUM_AUS)), tf.float32),
            "target_aus": tf.constant(rng.uniform(0, 1, (n, b, NUM_AUS)), tf.float32)}
    train_step = tf.function(model.train_step)
    start = time.perf_counter()
    train_step(data)["g_loss"].numpy()
    trace_s = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        train_step(data)["g_loss"].numpy()
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    flops = step_flops(model, b, s, n)
    return {"config": config_path, "mode": mode, "image_size": s, "batch": b, "n_critic": n,
            "generator_width": config.model.generator_width,
            "mixed_precision": config.train.mixed_precision, "trace_s": round(trace_s, 1),
            "step_s_median": round(seconds, 3), "images_per_s": round(n * b / seconds, 1),
            "gflop_per_step": round(flops / 1e9, 1),
            "achieved_gflops": round(flops / seconds / 1e9, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["configs/quickstart.yaml"])
    parser.add_argument("--modes", nargs="+", type=one_of(MODES, "mode"),
                        default=["defgan", "texture_only"])
    parser.add_argument("--steps", type=positive_int, default=5,
                        help="timed steps after the first")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    try:  # every config before any timing: a typo costs no measurement
        configs = {(path, mode): load_config(path, [f"model.mode={mode}",
                                                    "identity.embedder=none", *args.overrides])
                   for path in args.configs for mode in args.modes}
    except ConfigError as error:
        parser.exit(2, f"error: {error}\n")
    peak = matmul_peak_gflops()
    rows = [measure(config, path, mode, args.steps) for (path, mode), config in configs.items()]
    for row in rows:
        row["share_of_matmul_peak"] = round(row["achieved_gflops"] / peak, 3)
    by_config: dict[str, dict[str, float]] = {}
    for row in rows:
        by_config.setdefault(row["config"], {})[row["mode"]] = row["step_s_median"]
    ratios = {c: round(t["defgan"] / t["texture_only"], 2) for c, t in by_config.items()
              if {"defgan", "texture_only"} <= t.keys()}
    print(json.dumps({"matmul_peak_gflops": round(peak, 1), "runs": rows,
                      "defgan_over_texture_only_step_time": ratios}, indent=2))


if __name__ == "__main__":
    main()
