"""Where single-face inference spends its time, by TensorFlow op type (the TF profiler).

    python benchmarks/profile_ops.py                       # texture_only, 64², width 32
    python benchmarks/profile_ops.py --mode defgan --size 128 --width 16

Traces `--calls` edits with `tf.profiler.experimental` (after a warm-up), reads the
trace's XSpace protobuf directly (no TensorBoard plugin needed) and prints JSON: the
milliseconds per call and the share of each op type on the host's TF op threads
(summed over threads, so it can exceed the call's wall time). The
trace itself stays in `--logdir` for TensorBoard's profile plugin (trace viewer), where
it is installed. The networks are those of `configs/quickstart.yaml` at the given size
and width with 6 residual blocks: the GANimation setting of `vs_pytorch.py`.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from defgan_tf.arguments import positive_int
from defgan_tf.aus import NUM_AUS
from defgan_tf.config import load_config
from defgan_tf.models import build_defgan

OP_EVENT = re.compile(r"^[^\s:]+:([A-Za-z_]\w*)$")


def op_time_by_type(xspace_path: Path) -> collections.Counter:
    """Milliseconds per op type ("Conv2D", ...) summed over the host planes of a trace."""
    space = xplane_pb2.XSpace()
    space.ParseFromString(xspace_path.read_bytes())
    totals: collections.Counter = collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):  # the executor's op threads
                continue
            for event in line.events:
                # Ops are "scope/op_name:OpType"; the threads' bookkeeping events are
                # "Class::Method" or plain words.
                match = OP_EVENT.match(names[event.metadata_id])
                if match:
                    totals[match.group(1)] += event.duration_ps / 1e9
    return totals


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="texture_only", choices=("texture_only", "defgan"))
    parser.add_argument("--size", type=positive_int, default=64)
    parser.add_argument("--width", type=positive_int, default=32)
    parser.add_argument("--calls", type=positive_int, default=50)
    parser.add_argument("--logdir", help="where the trace goes (default: a temporary folder)")
    args = parser.parse_args(argv)
    config = load_config("configs/quickstart.yaml", [
        f"model.mode={args.mode}", f"model.image_size={args.size}",
        f"model.generator_width={args.width}", f"model.critic_width={args.width}",
        "model.n_res=6", "identity.embedder=none"])
    model = build_defgan(config, with_embedder=False)
    rng = np.random.default_rng(0)
    inputs = [tf.constant(rng.uniform(-1, 1, (1, args.size, args.size, 3)), tf.float32),
              tf.constant(rng.uniform(0, 1, (1, NUM_AUS)), tf.float32),
              tf.constant(rng.uniform(0, 1, (1, NUM_AUS)), tf.float32)]
    edit = tf.function(lambda i, s, t: model(i, s, t, training=False)["edited"])
    for _ in range(10):
        edit(*inputs).numpy()
    logdir = Path(args.logdir or tempfile.mkdtemp(prefix="defgan_profile_"))
    tf.profiler.experimental.start(str(logdir))
    for _ in range(args.calls):
        edit(*inputs).numpy()
    tf.profiler.experimental.stop()
    trace = max(logdir.glob("**/*.xplane.pb"), key=lambda p: p.stat().st_mtime)
    totals = op_time_by_type(trace)
    total = sum(totals.values())
    print(json.dumps({
        "mode": args.mode, "image_size": args.size, "width": args.width, "calls": args.calls,
        "op_ms_per_call": round(total / args.calls, 3), "trace": str(trace),
        "by_op_type": {name: {"ms_per_call": round(ms / args.calls, 3),
                              "share": round(ms / total, 3)}
                       for name, ms in totals.most_common(12)},
    }, indent=2))


if __name__ == "__main__":
    main()
