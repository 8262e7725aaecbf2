"""Throughput of the Keras dlib face descriptor vs dlib's own, on a batch of face chips.

Prints one JSON object: milliseconds per batch and chips per second for the Keras model
(a `tf.function`, with and without XLA), for one identity-loss step at 128² (embed two
batches, cosine loss, gradient with respect to the input) and for dlib's
`compute_face_descriptor` on the same chips, plus the largest descriptor difference.
The process is pinned to `--cores` CPUs before TensorFlow starts.

    python benchmarks/identity_throughput.py [--batch 25] [--cores 2] [--repeats 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

from defgan_tf.arguments import positive_int


def _pin(cores: int) -> int:
    available = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, available[:cores])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return min(cores, len(available))


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if "model name" in line]
    except OSError:
        names = []
    return names[0] if names else platform.machine()


def _timing(run: Callable[[], object], batch: int, repeats: int) -> dict:
    run()  # warm-up: tracing, compilation, allocation
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"ms_per_batch": round(1000 * seconds, 1), "chips_per_s": round(batch / seconds, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=positive_int, default=25,
                        help="chips per batch (default 25)")
    parser.add_argument("--cores", type=positive_int, default=2,
                        help="CPU cores to use (default 2)")
    parser.add_argument("--repeats", type=positive_int, default=10,
                        help="timed runs (median reported)")
    args = parser.parse_args(argv)
    cores = _pin(args.cores)

    import dlib
    import numpy as np
    import skimage.data
    import tensorflow as tf

    from defgan_tf.dlib_models import model_path
    from defgan_tf.identity.dlib_resnet import load_model
    from defgan_tf.identity.embedder import DlibResNetEmbedder

    tf.config.threading.set_intra_op_parallelism_threads(cores)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    photo = skimage.data.astronaut()
    box = max(dlib.get_frontal_face_detector()(photo, 1), key=lambda rect: rect.area())
    predictor = dlib.shape_predictor(
        str(model_path("five"))
    )
    chip = dlib.get_face_chip(photo, predictor(photo, box), 150, 0.25)
    chips = dlib.jitter_image(chip, args.batch)
    batch = tf.constant(np.stack(chips).astype(np.float32))

    model = load_model()
    embed = tf.function(lambda x: model(x, training=False))
    embed_xla = tf.function(lambda x: model(x, training=False), jit_compile=True)

    embedder = DlibResNetEmbedder()
    crops = tf.image.resize(batch, (128, 128), antialias=True) / 127.5 - 1.0
    edited = tf.Variable(tf.reverse(crops, [2]))

    @tf.function
    def identity_loss_step():
        with tf.GradientTape() as tape:
            cosine = tf.reduce_sum(
                embedder.embed(crops, normalize=True) * embedder.embed(edited, normalize=True),
                -1,
            )
            loss = tf.reduce_mean(1.0 - cosine)
        return tape.gradient(loss, edited)

    reference = dlib.face_recognition_model_v1(
        str(model_path("descriptor"))
    )
    expected = np.array(reference.compute_face_descriptor(chips))
    report = {
        "batch": args.batch,
        "cores": cores,
        "cpu": _cpu_name(),
        "tensorflow": tf.__version__,
        "dlib": dlib.__version__,
        "keras_tf_function": _timing(lambda: embed(batch).numpy(), args.batch, args.repeats),
        "keras_xla": _timing(lambda: embed_xla(batch).numpy(), args.batch, args.repeats),
        "identity_loss_step_128": _timing(
            lambda: identity_loss_step().numpy(), args.batch, args.repeats
        ),
        "dlib_compute_face_descriptor": _timing(
            lambda: reference.compute_face_descriptor(chips), args.batch, args.repeats
        ),
        "max_abs_diff_vs_dlib": float(np.abs(embed(batch).numpy() - expected).max()),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
