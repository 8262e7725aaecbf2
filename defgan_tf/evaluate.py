"""`python -m defgan_tf.evaluate --run RUN_DIR`: the paper's metrics on a trained model.

Edits held-out faces toward every expression preset, measures them with the registered
metrics (defgan_tf.metrics) next to two baselines — the input returned unchanged and,
on synthetic data, the true edit — and writes metrics.json, report.md and figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from defgan_tf import files
from defgan_tf.aus import PRESETS, get_expression
from defgan_tf.config import DATA_FORMATS, ConfigError
from defgan_tf.editing.backends import BackendError, KerasBackend, load_backend
from defgan_tf.evaluation import figures, report
from defgan_tf.metrics import (
    METRICS,
    EditSet,
    Metric,
    MetricOptions,
    MetricUnavailableError,
    build_metric,
    check_metric_names,
)
from defgan_tf.metrics.edit_set import (
    CHANGED_AU_THRESHOLD,
    META_CSV,
    dataset_edit_set,
    synthetic_edit_set,
)


def build_metrics(names: Sequence[str] | None, options: MetricOptions
                  ) -> tuple[dict[str, Metric], dict[str, str]]:
    """Builds the requested metrics (None = every one that can run here).

    Returns:
        (metrics by name, reasons by name for those skipped).

    Raises:
        MetricUnavailableError: an explicitly requested metric lacks a file an option gives.
    """
    explicit = names is not None
    metrics, skipped = {}, {}
    for name in check_metric_names(list(names)) if explicit else list(METRICS):
        try:
            metrics[name] = build_metric(name, options)
        except MetricUnavailableError as error:
            if explicit and error.fix:
                raise
            skipped[name] = str(error)
    return metrics, skipped


def measure(metrics: dict[str, Metric], edits: EditSet, skipped: dict[str, str]
            ) -> dict[str, dict[str, Any]]:
    """Runs each metric on the model's edits and on the baselines.

    Returns:
        name → {"model": result, "no_edit": result, and on synthetic data
        "ground_truth": result, "true_warp": result}. Metrics needing ground truth on
        data without it go to `skipped`.
    """
    sets = {"model": edits, "no_edit": edits.no_edit()}
    if edits.has_ground_truth:
        sets["ground_truth"] = edits.ground_truth()
        sets["true_warp"] = edits.true_warp()
    results = {}
    for name, metric in metrics.items():
        if metric.needs_ground_truth and not edits.has_ground_truth:
            skipped[name] = "needs synthetic data (rendered ground truth)."
            continue
        results[name] = {label: metric(chosen) for label, chosen in sets.items()}
    return results


def _data_source(args: argparse.Namespace) -> tuple[str, str]:
    """(dataset path, format) from --data/--format, else the run's config.yaml."""
    config_file = Path(args.run) / "config.yaml"
    if args.data is None:
        if not config_file.is_file():
            raise ConfigError(f"--data is required for {args.run} (not a run directory with "
                              "a config.yaml naming its dataset).")
        from defgan_tf.models.build import load_run_config  # imports TensorFlow: not for --help

        data = load_run_config(args.run).data  # data.path as seen from here
        if data.path is None:
            raise ConfigError(f"{config_file} has no data.path; pass --data.")
        return data.path, data.format
    if args.format is not None:
        return args.data, args.format
    return args.data, "synthetic" if (Path(args.data) / META_CSV).is_file() else "openface"


def _presets(text: str | None) -> dict[str, np.ndarray]:
    if text is None:
        return dict(PRESETS)
    return {name.strip().lower(): get_expression(name) for name in text.split(",")}


def write_figures(edits: EditSet, edit, results: dict[str, Any], out: Path
                  ) -> dict[str, str]:
    """Draws the figures into `out`; returns {name: file name} for report.md."""
    made = {"sample grid": figures.sample_grid(edits, out / "samples.png"),
            "stages": figures.stages(edit, edits, out / "stages.png"),
            "AU sweep": figures.au_sweep(edit, edits.inputs[0], edits.source_aus[0],
                                         out / "au_sweep.png"),
            "difference heatmaps": figures.difference_heatmaps(edits, out / "differences.png")}
    for name, label in (("identity", "descriptor distance"), ("au_error", "AU MAE")):
        path = out / f"{name}_per_expression.png"
        if name in results:
            made[f"{name} per expression"] = figures.expression_bars(
                {b: r["per_expression"] for b, r in results[name].items()
                 if "per_expression" in r}, label, path)
        else:  # an earlier evaluation's, which this report.md would not describe
            path.unlink(missing_ok=True)
    return {name: path.name for name, path in made.items()}


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Runs the whole evaluation and writes its outputs; returns metrics.json's content."""
    backend = load_backend(args.run, use_ema=not args.no_ema)
    options = MetricOptions(au_regressor=args.au_regressor,
                            inception_weights=args.inception_weights, embedder=args.embedder,
                            critic=backend.estimate_aus if backend.has_au_estimator else None)
    metrics, skipped = build_metrics(args.metrics, options)
    data_dir, format = _data_source(args)
    presets = _presets(args.expressions)
    start = time.perf_counter()
    common = dict(presets=presets, faces=args.faces, jitter=args.jitter, seed=args.seed,
                  batch_size=args.batch_size, single_au_step=args.single_au)
    if format == "synthetic":
        texture = backend.texture if isinstance(backend, KerasBackend) else None
        edits = synthetic_edit_set(backend.edit, data_dir, backend.image_size,
                                   split=args.split, texture=texture, **common)
    else:
        from defgan_tf.data.readers import read_dataset  # imports TensorFlow: not for --help

        edits = dataset_edit_set(backend.edit, read_dataset(data_dir, format, args.split),
                                 backend.image_size, **common)
    edit_seconds = time.perf_counter() - start
    results = measure(metrics, edits, skipped)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    targets = list(dict.fromkeys(edits.expressions))
    summary = {"model": str(args.run), "backend": backend.name, "weights": backend.weights,
               "data": str(data_dir), "format": format, "split": args.split,
               "image_size": backend.image_size,
               "faces": len(edits) // len(targets), "edits": len(edits),
               "expressions": targets, "seed": args.seed,
               "jitter": None if args.single_au is not None else args.jitter,
               "single_au": args.single_au,
               "edit_seconds": round(edit_seconds, 2),
               "seconds": round(time.perf_counter() - start, 2),
               "metrics": results, "skipped": skipped}
    figure_files = write_figures(edits, backend.edit, results, out)
    files.write_text(out / "metrics.json", json.dumps(report.json_ready(summary), indent=2) + "\n")
    files.write_text(out / "report.md", report.markdown(summary, figure_files))
    return summary


def default_out(args: argparse.Namespace) -> str:
    """RUN/eval, or a sibling folder per option that changes what is measured.

    So the raw weights' numbers (--no-ema) do not silently replace the average's, and
    single-AU or train-split readings do not replace the presets' on the test split.
    """
    name = "eval"
    if args.no_ema:
        name += "_raw"
    if args.single_au is not None:
        name += f"_single_au_{args.single_au:g}"
    if args.split != "test":
        name += f"_{args.split}"
    run = Path(args.run)
    return str(run / name) if run.is_dir() else str(run.with_name(f"{run.stem}_{name}"))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m defgan_tf.evaluate",
        description="Measure a trained DefGAN: AU error, identity, concentration, FID/KID "
                    "and, on synthetic data, ground-truth pixels and flow.")
    parser.add_argument("--run", required=True,
                        help="run directory, SavedModel directory or .tflite file")
    parser.add_argument("--data", help="dataset (default: the run's data.path)")
    parser.add_argument("--format", choices=DATA_FORMATS,
                        help="dataset format (default: synthetic when synthetic_meta.csv "
                             "is there, else openface; or the run's data.format)")
    parser.add_argument("--out", help="output folder (default: RUN/eval, with _raw, "
                        "_single_au_STEP and _SPLIT added for --no-ema, --single-au and "
                        "another --split; its previous results are replaced)")
    parser.add_argument("--metrics", type=lambda text: [m.strip() for m in text.split(",")],
                        help=f"comma-separated subset of: {', '.join(METRICS)} "
                             "(default: every metric that can run)")
    parser.add_argument("--au-regressor", help="the independent AU regressor (.keras)")
    parser.add_argument("--inception-weights", help="InceptionV3 no-top weights (.h5)")
    parser.add_argument("--embedder", default="dlib_resnet", help="identity descriptor")
    parser.add_argument("--faces", type=int, default=50,
                        help="faces to edit, one per identity on synthetic data (default 50)")
    parser.add_argument("--split", default="test", help="train | test | all (default test)")
    parser.add_argument("--expressions", help="comma-separated presets (default: all)")
    parser.add_argument("--jitter", type=float, default=0.1,
                        help="U(-j, j) noise on each preset's AUs, per face (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="fixes the jitter")
    parser.add_argument("--single-au", type=float, metavar="STEP",
                        help="instead of the presets, 17 edits per face that each move one AU "
                             "by STEP in (0.1, 1] (up from ≤ 0.5, else down; --jitter unused): "
                             "metrics per AU, and on synthetic data where each AU's learned "
                             "motion goes")
    parser.add_argument("--batch-size", type=int, default=16, help="images per model call")
    parser.add_argument("--no-ema", action="store_true",
                        help="measure a run's raw generator weights instead of their moving "
                             "average (model.ema_decay > 0)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = default_out(args)
    if args.faces < 1:
        parser.error(f"--faces must be ≥ 1. Received: {args.faces}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be ≥ 1. Received: {args.batch_size}")
    if not 0 <= args.seed < 2**32:
        parser.error(f"--seed must be in [0, 2^32). Received: {args.seed}")
    # checked before the model runs, not after minutes of edits
    if Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out {args.out} is a file; give a folder.")
    for flag, path in (("--au-regressor", args.au_regressor),
                       ("--inception-weights", args.inception_weights)):
        if path is not None and not Path(path).is_file():
            parser.error(f"{flag} {path}: no such file.")
    if args.single_au is not None and args.expressions is not None:
        parser.error("--single-au edits one AU at a time; it replaces --expressions.")
    if args.single_au is not None and not CHANGED_AU_THRESHOLD < args.single_au <= 1:
        parser.error(f"--single-au must be in ({CHANGED_AU_THRESHOLD}, 1]: a smaller change "
                     f"counts as no change (concentration, moved regions). "
                     f"Received: {args.single_au}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user mistakes exit with status 2 and one line, not a traceback."""
    args = parse_args(argv)
    try:
        summary = evaluate(args)
    except (MetricUnavailableError, BackendError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}/metrics.json, report.md and figures "
          f"({summary['edits']} edits, {summary['seconds']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
