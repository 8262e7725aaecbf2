"""Parity and speed of every TFLite variant against the Keras model: JSON and a Markdown table.

    python -m export.report --run RUN_DIR [--out DIR] [--faces 16] [--runs 50]

For each variant (fp32, fp16, dynamic, int8): file size, PSNR and largest absolute
error of `edited` against Keras on held-out faces (the run's test split), and the
LiteRT latency of one edit (p50/p95) at 1 and 2 threads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from defgan_tf import files
from defgan_tf.arguments import positive_int
from defgan_tf.aus import NUM_AUS
from export.saved_model import ExportError, load_for_export
from export.tflite import QUANTIZATIONS, dataset_faces, write_tflite_variants

PSNR_TARGETS_DB = {"fp32": 60.0, "fp16": 45.0, "dynamic": 35.0, "int8": 30.0}
"""Least PSNR of `edited` against Keras per variant: the issue's targets (fp16, dynamic,
int8); fp32 should differ by float rounding only (our choice)."""
THREADS = (1, 2)


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float = 2.0) -> float:
    """Peak signal-to-noise ratio in dB of images in a range of width `data_range`.

    Args:
        reference, test: same-shape arrays (the models' images are in [-1, 1], range 2).

    Returns:
        10 · log10(range² / MSE); inf when the arrays are equal.
    """
    mse = float(np.mean((np.asarray(reference, np.float64) - np.asarray(test, np.float64)) ** 2))
    return float("inf") if mse == 0.0 else 10.0 * np.log10(data_range ** 2 / mse)


def edit_gflops(model, image_size: int) -> float:
    """Floating-point operations of one edit (both generators, warp, composition), in 1e9.

    Counted by TensorFlow's profiler on the frozen graph of a batch-1 edit (a multiply-add
    counts as 2). The critic is not part of an edit.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    image = tf.TensorSpec((1, image_size, image_size, 3), tf.float32)
    aus = tf.TensorSpec((1, NUM_AUS), tf.float32)
    edit = tf.function(lambda i, s, t: model(i, s, t)["edited"]).get_concrete_function(
        image, aus, aus)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    graph = convert_variables_to_constants_v2(edit).graph
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops / 1e9


def _edit_inputs(face: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key: face[key] for key in ("image", "source_aus", "target_aus")}


def keras_edits(model, faces: list[dict[str, np.ndarray]]) -> np.ndarray:
    """The Keras model's `edited` for each batch-1 face: (N, S, S, 3) float32."""
    return np.concatenate([
        model(face["image"], face["source_aus"], face["target_aus"])["edited"].numpy()
        for face in faces])


def tflite_edits(path: str | Path, faces: list[dict[str, np.ndarray]],
                 threads: int = 1) -> np.ndarray:
    """A .tflite file's `edited` for each batch-1 face: (N, S, S, 3) float32."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path), num_threads=threads).get_signature_runner("edit")
    return np.concatenate([runner(**_edit_inputs(face))["edited"] for face in faces])


def parity(reference: np.ndarray, edits: np.ndarray) -> dict[str, float]:
    """{"psnr_db", "max_abs_error"} of TFLite edits against the Keras reference."""
    return {"psnr_db": round(psnr(reference, edits), 2),
            "max_abs_error": float(np.abs(reference - edits).max())}


def latency_ms(path: str | Path, face: dict[str, np.ndarray], threads: int, runs: int = 50,
               warmup: int = 5) -> dict[str, float]:
    """Wall time of one `edit` call with LiteRT: {"p50", "p95"} in milliseconds."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path), num_threads=threads).get_signature_runner("edit")
    inputs = _edit_inputs(face)
    for _ in range(warmup):
        runner(**inputs)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner(**inputs)
        times.append((time.perf_counter() - start) * 1e3)
    return {"p50": round(float(np.percentile(times, 50)), 2),
            "p95": round(float(np.percentile(times, 95)), 2)}


def build_report(run_dir: str | Path, out_dir: str | Path, faces: int = 16, runs: int = 50,
                 data_path: str | Path | None = None) -> dict[str, Any]:
    """Exports every variant into `out_dir` and measures it.

    Args:
        run_dir: training run directory.
        out_dir: where the .tflite files, `report.json` and `report.md` go.
        faces: held-out faces for the parity numbers.
        runs: timed calls per latency measurement.
        data_path: dataset folder instead of the run's `data.path`.

    Returns:
        The report: {"run", "config_hash", "image_size", "faces", "variants": {q: {...}}}.

    Raises:
        ExportError: `out_dir` is a file (checked before the slow part), the run or its
            data cannot be read, or an export fails.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"--out {out_dir} is a file; give a folder for the exports and "
                          "the report.")
    config, model = load_for_export(run_dir)
    calibration = dataset_faces(config, config.export.representative_samples, data_path)
    held_out = dataset_faces(config, faces, data_path, split="test")
    written = write_tflite_variants(model, config, {q: out_dir / f"defgan_{q}.tflite"
                                                    for q in QUANTIZATIONS}, calibration)
    reference = keras_edits(model, held_out)
    variants = {}
    for quantization, path in written.items():
        row = {"file": path.name, "size_mb": round(path.stat().st_size / 1e6, 3),
               **parity(reference, tflite_edits(path, held_out)),
               "psnr_target_db": PSNR_TARGETS_DB[quantization]}
        row["meets_target"] = bool(row["psnr_db"] >= row["psnr_target_db"])
        for threads in THREADS:
            row[f"latency_ms_{threads}_thread"] = latency_ms(path, held_out[0], threads, runs)
        variants[quantization] = row
    report = {"run": str(run_dir), "config_hash": config.hash(),
              "image_size": config.model.image_size,
              "edit_gflops": round(edit_gflops(model, config.model.image_size), 3),
              "faces": len(held_out), "runs": runs, "variants": variants}
    files.write_text(out_dir / "report.json", json.dumps(report, indent=2) + "\n")
    files.write_text(out_dir / "report.md", markdown_table(report) + "\n")
    return report


def markdown_table(report: dict[str, Any]) -> str:
    """The report's variants as a Markdown table (the one docs/export.md shows)."""
    lines = [
        f"Run `{report['run']}` (config {report['config_hash']}, {report['image_size']}², "
        f"{report['edit_gflops']} GFLOPs per edit, {report['faces']} held-out faces, "
        f"{report['runs']} timed runs).",
        "",
        "| variant | size (MB) | PSNR vs Keras (dB) | target (dB) | max abs error "
        "| p50 / p95 1 thread (ms) | p50 / p95 2 threads (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in report["variants"].items():
        one, two = row["latency_ms_1_thread"], row["latency_ms_2_thread"]
        lines.append(
            f"| {name} | {row['size_mb']:.3f} | {row['psnr_db']:.1f} | "
            f"≥ {row['psnr_target_db']:.0f}{'' if row['meets_target'] else ' (missed)'} | "
            f"{row['max_abs_error']:.2g} | {one['p50']:.2f} / {one['p95']:.2f} | "
            f"{two['p50']:.2f} / {two['p95']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m export.report",
        description="Export every TFLite variant of a run and measure its parity with Keras "
                    "and its LiteRT latency.")
    parser.add_argument("--run", required=True, help="training run directory")
    parser.add_argument("--out", default=None, help="output folder (default: RUN/export)")
    parser.add_argument("--faces", type=positive_int, default=16,
                        help="held-out faces for parity")
    parser.add_argument("--runs", type=positive_int, default=50,
                        help="timed calls per latency")
    parser.add_argument("--data", default=None, help="dataset folder (default: data.path)")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else Path(args.run) / "export"
    try:
        report = build_report(args.run, out, args.faces, args.runs, args.data)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(markdown_table(report))
    print(f"\nwrote {out / 'report.json'} and {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
