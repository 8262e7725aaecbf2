"""`python -m defgan_tf.models.summary --config C`: parameters and FLOPs of each network."""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

from defgan_tf.aus import NUM_AUS
from defgan_tf.config import Config, ConfigError, load_config
from defgan_tf.models.build import build_defgan


def count_flops(fn, *specs: tf.TensorSpec) -> int:
    """Floating-point operations (multiply and add counted separately) of one call of fn."""
    graph = tf.function(fn).get_concrete_function(*specs).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    profile = tf.compat.v1.profiler.profile(graph=graph, cmd="op", options=options)
    return int(profile.total_float_ops)


def summarize(config: Config) -> dict[str, dict[str, float]]:
    """Parameters and GFLOPs per image of G_D, G_T, the two together, and the critic."""
    model = build_defgan(config, with_embedder=False)
    size = config.model.image_size
    image = tf.TensorSpec((1, size, size, 3), tf.float32)
    aus = tf.TensorSpec((1, NUM_AUS), tf.float32)
    rows: dict[str, dict[str, float]] = {}
    if model.deformation_generator is not None:
        rows["deformation_generator"] = {
            "params": model.deformation_generator.count_params(),
            "gflops": count_flops(model.deformation_generator, image, aus, aus) / 1e9}
    if model.texture_generator is not None:
        rows["texture_generator"] = {
            "params": model.texture_generator.count_params(),
            "gflops": count_flops(model.texture_generator, image, aus, aus) / 1e9}
    rows["edit (both generators + warp)"] = {
        "params": sum(g.count_params() for g in model.generators),
        "gflops": count_flops(lambda i, s, t: model(i, s, t)["edited"], image, aus, aus) / 1e9}
    rows["critic"] = {"params": model.critic.count_params(),
                      "gflops": count_flops(model.critic, image) / 1e9}
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m defgan_tf.models.summary",
                                     description=__doc__)
    parser.add_argument("--config", help="YAML config (default: the paper setting)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, args.overrides)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = summarize(config)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'network':32s} {'parameters':>12s} {'GFLOPs/image':>13s}")
    for name, row in rows.items():
        print(f"{name:32s} {row['params']:12,d} {row['gflops']:13.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
