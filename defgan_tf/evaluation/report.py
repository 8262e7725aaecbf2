"""Turns the evaluation's results into report.md and a JSON-safe metrics.json."""

from __future__ import annotations

import math
from typing import Any

BASELINES = ("model", "no_edit", "ground_truth", "true_warp")


def json_ready(value: Any) -> Any:
    """Non-finite floats → None (JSON has no NaN/inf), NumPy scalars → Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def scalars(result: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers of one metric's result, nested keys joined with '.', tables left out."""
    out = {}
    for key, value in result.items():
        if key.startswith("per_"):
            continue
        if isinstance(value, dict):
            out.update(scalars(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = value
    return out


def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "∞" if value > 0 else ("–" if math.isnan(value) else "−∞")
    return f"{value:.4g}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def markdown(results: dict[str, Any], figures: dict[str, str]) -> str:
    """report.md: the summary table, per-expression and per-AU tables, figures, notes."""
    metrics = results["metrics"]
    lines = [f"# Evaluation of `{results['model']}`", "",
             f"{results['edits']} edits: {results['faces']} faces × "
             f"{len(results['expressions'])} expressions ({', '.join(results['expressions'])}), "
             f"data `{results['data']}` ({results['split']} split), image size "
             f"{results['image_size']}, generator weights: {results['weights']}. "
             "Baselines: *no edit* returns the input unchanged; "
             "*ground truth* is the true render of the target and *true warp* the input "
             "warped by the true motion, the best a deformation alone can do (synthetic "
             "data only).", "",
             "## Summary", ""]
    rows = []
    for name, by_baseline in metrics.items():
        columns = {b: scalars(by_baseline[b]) for b in BASELINES if b in by_baseline}
        for key in columns["model"]:
            rows.append([f"{name}.{key}",
                         *(_number(columns[b].get(key)) if b in columns else "–"
                           for b in BASELINES)])
    lines += _table(["metric", *(b.replace("_", " ") for b in BASELINES)], rows)
    per_expression = {name: r["model"]["per_expression"] for name, r in metrics.items()
                      if "per_expression" in r["model"]}
    if per_expression:
        expressions = results["expressions"]
        lines += ["", "## Per target expression (model)", ""]
        lines += _table(["metric", *expressions],
                        [[name, *(_number(table.get(e)) for e in expressions)]
                         for name, table in per_expression.items()])
    moved = metrics.get("flow_error", {}).get("model", {}).get("per_expression_moved")
    if moved:
        lines += ["", "## Flow in the moved pixels per target (model)", ""]
        columns = ["epe_moved", "along_moved", "cosine_moved"]
        lines += _table(["target", *columns], [[label, *(_number(row[c]) for c in columns)]
                                                for label, row in moved.items()])
    if "au_error" in metrics:
        per_au = {b: metrics["au_error"][b]["per_au"] for b in BASELINES
                  if b in metrics["au_error"]}
        lines += ["", "## AU error per action unit (MAE, intensity in [0, 1])", ""]
        lines += _table(["AU", *per_au], [[code, *(_number(t[code]) for t in per_au.values())]
                                          for code in per_au["model"]])
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{name}]({file})" for name, file in figures.items()]
    if results["skipped"]:
        lines += ["", "## Skipped", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in results["skipped"].items()]
    return "\n".join(lines) + "\n"
