"""Edit latency per face, stage by stage, for each model backend (run dir, SavedModel, TFLite).

    python benchmarks/edit_latency.py --model runs/quickstart --model exported/model.tflite
    python benchmarks/edit_latency.py --config configs/paper.yaml   # untrained, Keras only

Stages, timed separately on scikit-image's astronaut photograph (512×512, one face):
detection (dlib HOG + 5/68 landmarks), alignment (similarity fit, crop, mask),
au_estimation (critic AU head), model (one edit), paste_back (inverse warp, colour
match, feathered blend). Prints one JSON document: median milliseconds per stage
and backend over `--repeats` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

from defgan_tf.arguments import positive_int


def _timed(function, repeats: int) -> tuple[float, object]:
    """Median wall milliseconds of `repeats` calls after one warm-up, and the last result."""
    result = function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def measure(editor, image: np.ndarray, repeats: int) -> dict[str, float]:
    """Median ms per stage of editing every face of `image` with `editor`."""
    from defgan_tf.data.faces import detect_faces

    ms = {}
    ms["detection"], faces = _timed(lambda: detect_faces(image, editor.detector), repeats)
    ms["alignment"], (crops, matrices, masks) = _timed(lambda: editor.align(image, faces),
                                                       repeats)
    ms["au_estimation"], source = _timed(lambda: editor.estimate_aus(crops), repeats)
    target = editor.target_aus(source, expression="happy")
    ms["model"], maps = _timed(lambda: editor.run(crops, source, target), repeats)
    from defgan_tf.editing.backends import images_from_model
    from defgan_tf.editing.editor import FaceEdit

    edited = images_from_model(maps["edited"])
    edits = [FaceEdit(*fields) for fields in zip(faces, matrices, crops, edited, masks, source,
                                                 target)]
    ms["paste_back"], _ = _timed(lambda: editor.compose(image, edits), repeats)
    ms["total"] = sum(ms.values())
    return {name: round(value, 2) for name, value in ms.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", default=[],
                        help="run directory, SavedModel directory or .tflite (repeatable)")
    parser.add_argument("--config", default="configs/quickstart.yaml",
                        help="without --model: time an untrained model of this config")
    parser.add_argument("--repeats", type=positive_int, default=10)
    parser.add_argument("--detector", default="hog")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import skimage.data
    import tensorflow as tf

    from defgan_tf.editing.backends import KerasBackend, load_backend
    from defgan_tf.editing.editor import Editor

    image = skimage.data.astronaut()
    if args.model:
        backends = [(path, load_backend(path)) for path in args.model]
    else:
        from defgan_tf.config import load_config
        from defgan_tf.models import build_defgan

        config = load_config(args.config)
        model = build_defgan(config, with_embedder=False)
        backends = [(f"untrained {args.config}", KerasBackend(model, config.model.image_size))]
    report = {
        "image": "skimage.data.astronaut() 512x512, 1 face",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s)",
        "tensorflow": tf.__version__, "repeats": args.repeats, "unit": "ms (median)",
        "backends": [],
    }
    for path, backend in backends:
        editor = Editor(backend, detector=args.detector)
        report["backends"].append({"backend": backend.name, "model": str(path),
                                   "image_size": backend.image_size,
                                   "stages": measure(editor, image, args.repeats)})
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
