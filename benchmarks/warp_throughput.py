"""Warp throughput (images/s): our gather-based warp vs keras.ops.image.map_coordinates.

Prints one JSON object. Every candidate performs the same warp (bilinear, border
padding, normalized align_corners grid), checked against ours before timing.
Besides the library op, two gather layouts we rejected are timed too, so the
choice in defgan_tf/ops/warp.py stays reproducible: one gather of the four
corners stacked, and tf.gather_nd with (b, y, x) indices.

    python benchmarks/warp_throughput.py [--batch 25] [--size 128] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

from defgan_tf.arguments import positive_int
from defgan_tf.ops.warp import warp


def map_coordinates_warp(image: tf.Tensor, grid: tf.Tensor) -> tf.Tensor:
    """The same warp with keras.ops.image.map_coordinates on (b, y, x, c) coordinates."""
    batch, height, width, channels = image.shape
    out_shape = (batch, grid.shape[1], grid.shape[2], channels)
    x_px = (grid[..., 0] + 1.0) * (0.5 * (width - 1))
    y_px = (grid[..., 1] + 1.0) * (0.5 * (height - 1))
    b = tf.broadcast_to(tf.reshape(tf.range(batch, dtype=tf.float32), [-1, 1, 1, 1]), out_shape)
    c = tf.broadcast_to(tf.range(channels, dtype=tf.float32), out_shape)
    coordinates = tf.stack([b, tf.broadcast_to(y_px[..., None], out_shape),
                            tf.broadcast_to(x_px[..., None], out_shape), c])
    return keras.ops.image.map_coordinates(image, coordinates, order=1, fill_mode="nearest")


def _corners(image: tf.Tensor, grid: tf.Tensor):
    """Clamped corner indices and weights shared by the rejected layouts below."""
    _, height, width, _ = image.shape
    x_px = tf.clip_by_value((grid[..., 0] + 1.0) * (0.5 * (width - 1)), 0.0, width - 1.0)
    y_px = tf.clip_by_value((grid[..., 1] + 1.0) * (0.5 * (height - 1)), 0.0, height - 1.0)
    x0, y0 = tf.floor(x_px), tf.floor(y_px)
    weights = (x_px - x0)[..., None], (y_px - y0)[..., None]
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    return x0, tf.minimum(x0 + 1, width - 1), y0, tf.minimum(y0 + 1, height - 1), weights


def _blend(top_left, top_right, bottom_left, bottom_right, weights):
    weight_x, weight_y = weights
    top = top_left + weight_x * (top_right - top_left)
    bottom = bottom_left + weight_x * (bottom_right - bottom_left)
    return top + weight_y * (bottom - top)


def stacked_gather_warp(image: tf.Tensor, grid: tf.Tensor) -> tf.Tensor:
    """Rejected layout: one tf.gather of the four corners' flat indices, stacked."""
    batch, height, width, channels = image.shape
    x0, x1, y0, y1, weights = _corners(image, grid)
    base = tf.reshape(tf.range(batch) * height, [-1, 1, 1])
    row0, row1 = (base + y0) * width, (base + y1) * width
    corners = tf.gather(tf.reshape(image, [-1, channels]),
                        tf.stack([row0 + x0, row0 + x1, row1 + x0, row1 + x1]))
    return _blend(*tf.unstack(corners), weights)


def gather_nd_warp(image: tf.Tensor, grid: tf.Tensor) -> tf.Tensor:
    """Rejected layout: four tf.gather_nd calls with (b, y, x) index triples."""
    x0, x1, y0, y1, weights = _corners(image, grid)
    b = tf.broadcast_to(tf.reshape(tf.range(image.shape[0]), [-1, 1, 1]), tf.shape(x0))

    def corner(y, x):
        return tf.gather_nd(image, tf.stack([b, y, x], axis=-1))

    return _blend(corner(y0, x0), corner(y0, x1), corner(y1, x0), corner(y1, x1), weights)


CANDIDATES = {
    "ours": warp,
    "keras_map_coordinates": map_coordinates_warp,
    "rejected_stacked_gather": stacked_gather_warp,
    "rejected_gather_nd": gather_nd_warp,
}


def compiled_passes(warp_fn, jit: bool) -> dict:
    """The forward pass and the forward+backward pass (gradients for image and grid)."""

    @tf.function(jit_compile=jit)
    def forward_backward(image, grid):
        with tf.GradientTape() as tape:
            tape.watch([image, grid])
            loss = tf.reduce_sum(tf.square(warp_fn(image, grid)))
        return tape.gradient(loss, [image, grid])

    return {"forward": tf.function(warp_fn, jit_compile=jit),
            "forward_backward": forward_backward}


def _run(fn, args, iterations: int) -> float:
    """Seconds for `iterations` calls, results fetched."""
    start = time.perf_counter()
    for _ in range(iterations):
        result = fn(*args)
    tf.nest.map_structure(lambda t: t.numpy(), result)
    return time.perf_counter() - start


def interleaved_throughput(fns: dict, args, batch: int, seconds: float, rounds: int) -> dict:
    """Best images/s of each function, timed in turns so all see the same machine load.

    Each function is warmed up (traced, compiled), then run for about `seconds` per
    turn; the build machine is shared, so turns alternate between candidates and
    the best turn counts.
    """
    iterations = {}
    for name, fn in fns.items():
        _run(fn, args, 1)  # trace and compile
        iterations[name] = max(1, round(seconds / _run(fn, args, 1)))
    best = dict.fromkeys(fns, 0.0)
    for _ in range(rounds):
        for name, fn in fns.items():
            rate = iterations[name] * batch / _run(fn, args, iterations[name])
            best[name] = max(best[name], rate)
    return {name: round(rate, 1) for name, rate in best.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=positive_int, default=25)
    parser.add_argument("--size", type=positive_int, default=128)
    parser.add_argument("--channels", type=positive_int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="per timed turn")
    parser.add_argument("--rounds", type=positive_int, default=5, help="turns per candidate")
    args = parser.parse_args(argv)

    image = tf.random.stateless_uniform(
        (args.batch, args.size, args.size, args.channels), seed=(0, 1), minval=-1, maxval=1)
    # About 10 % of the samples fall outside the image, so border handling is timed.
    grid = tf.random.stateless_uniform(
        (args.batch, args.size, args.size, 2), seed=(2, 3), minval=-1.1, maxval=1.1)
    reference = warp(image, grid)
    report = {
        "shape": [args.batch, args.size, args.size, args.channels],
        "unit": "images/s, best of interleaved turns",
        "padding": "border (map_coordinates: fill_mode='nearest', order=1)",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "devices": [d.device_type for d in tf.config.list_physical_devices()]},
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "max_abs_diff_vs_ours": {},
        "results": {},
    }
    for name, warp_fn in CANDIDATES.items():
        report["max_abs_diff_vs_ours"][name] = float(
            tf.reduce_max(tf.abs(warp_fn(image, grid) - reference)))
    for mode, jit in (("tf_function", False), ("xla", True)):
        passes = {name: compiled_passes(fn, jit) for name, fn in CANDIDATES.items()}
        for pass_name in ("forward", "forward_backward"):
            rates = interleaved_throughput(
                {name: fns[pass_name] for name, fns in passes.items()},
                (image, grid), args.batch, args.seconds, args.rounds)
            for name, rate in rates.items():
                report["results"].setdefault(name, {}).setdefault(mode, {})[pass_name] = rate
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
