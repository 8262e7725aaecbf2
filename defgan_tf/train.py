"""`python -m defgan_tf.train --config C --out RUN_DIR [--set k=v ...] [--resume]`."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# On Linux, TensorFlow runs its oneDNN CPU kernels by default only on CPUs with AVX-512
# VNNI or BF16, AVX-VNNI or AMX (DefaultOneDnnPolicy in its util/port.cc). Elsewhere
# (AVX2-only CPUs such as AMD Zen 3) Eigen's convolution gradients made a training step
# 1.7-3.1x slower (docs/benchmarks.md, "oneDNN"), so training turns oneDNN on. The switch
# is read once, when TensorFlow loads, so it is set before anything imports TensorFlow;
# an explicit TF_ENABLE_ONEDNN_OPTS=0 still wins. Editing leaves TensorFlow's default:
# at batch 1 oneDNN was the slower one there.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m defgan_tf.train",
        description="Train DefGAN (or its texture-only / deformation-only ablations).")
    parser.add_argument("--config", help="YAML config (configs/quickstart.yaml, "
                        "configs/paper.yaml, ...); default: the paper setting.")
    parser.add_argument("--out", required=True, help="run directory: config, checkpoints, "
                        "TensorBoard logs and samples are written here.")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="override a config value "
                        "(repeatable), e.g. --set train.max_steps=10")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its newest checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Runs training; user mistakes print one message and exit 2, never a traceback."""
    args = parse_args(argv)
    from defgan_tf.config import ConfigError, load_config

    try:  # TensorFlow loads here, for several seconds
        from defgan_tf.models.build import load_run_config
        from defgan_tf.training.loop import INTERRUPTED, NonFiniteLossError, Trainer

        if args.resume and args.config is None:  # its data.path is relative to the run
            config = load_run_config(args.out, args.overrides)
        else:
            config = load_config(args.config, args.overrides)
        trainer = Trainer(config, args.out, resume=args.resume, progress=not args.no_progress)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # once training runs, Ctrl-C ends it with a checkpoint
        print("interrupted before the first training step: no checkpoint was written.",
              file=sys.stderr)
        return 130
    try:
        result = trainer.run()
    except NonFiniteLossError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summary = (f"step {result.step}/{result.total_steps}, "
               f"{result.images_per_second:.1f} images/s; run directory: {args.out}")
    if result.stopped_early:
        resume = ("Continue with --resume." if result.step else
                  "Nothing was saved yet: start it again without --resume.")
        print(f"stopped early ({result.stopped_early}) at {summary}. {resume}",
              file=sys.stderr)
        return 130 if result.stopped_early == INTERRUPTED else 0
    print(f"done: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
