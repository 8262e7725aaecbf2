"""The DefGAN vs texture-only ablation: train every variant on one budget, evaluate, tabulate.

    python benchmarks/ablation.py --au-regressor au_regressor_64.keras          # everything
    python benchmarks/ablation.py --variants defgan texture_only --seeds 0 1 --no-train

Each variant is `configs/quickstart.yaml` with the budget of `configs/ablation/base.yaml`
and the settings of `configs/ablation/<variant>.yaml`, trained into
`runs/ablation/<variant>-s<seed>` with `python -m defgan_tf.train` (resumed from its
newest checkpoint when there is one, so the budget can be spread over sessions), then
measured with `python -m defgan_tf.evaluate` on the test identities. Training seconds
and steps per session are appended to `ablation_timing.json` in each run directory,
for the speed column.
Prints the markdown table (mean ± half-range over seeds) that docs/results.md holds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from defgan_tf.arguments import at_least, positive_int

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "ablation"
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
VARIANTS = ("defgan", "texture_only", "identity", "no_composition", "integral")
# (column title, metric, path inside the metric's "model" result)
COLUMNS = (
    ("AU error ↓", "au_error", ("mae",)),
    ("identity dist. ↓", "identity", ("distance",)),
    ("concentration ↑", "concentration", ("share",)),
    ("changed L1 ↓", "ground_truth", ("edited", "changed_l1")),
    ("drift L1 ↓", "ground_truth", ("edited", "unchanged_l1")),
    ("PSNR ↑", "ground_truth", ("edited", "psnr")),
    ("EPE moved (px) ↓", "flow_error", ("epe_moved",)),
    ("offset moved (px)", "flow_error", ("offset_moved",)),
    ("offset static (px) ↓", "flow_error", ("offset_static",)),
)


def overrides(name: str) -> list[str]:
    """`section.key=value` strings from configs/ablation/<name>.yaml (YAML values)."""
    settings = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text()) or {}
    return [f"{section}.{key}={'null' if value is None else value}"
            for section, values in settings.items() for key, value in values.items()]


def _step(run_dir: Path) -> int:
    index = sorted(run_dir.glob("checkpoints/ckpt-*.index"),
                   key=lambda p: int(p.stem.split("-")[1]))
    return int(index[-1].stem.split("-")[1]) if index else 0


def train(variant: str, seed: int, run_dir: Path) -> None:
    """One training session (resumed when the run has a checkpoint); logs its timing."""
    before = _step(run_dir)
    settings = [*overrides("base"), *overrides(variant), f"train.seed={seed}"]
    command = [sys.executable, "-m", "defgan_tf.train", "--config", str(QUICKSTART),
               "--out", str(run_dir), "--no-progress", *(f"--set={o}" for o in settings)]
    if before:
        command.append("--resume")
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    timing = run_dir / "ablation_timing.json"
    sessions = json.loads(timing.read_text()) if timing.is_file() else []
    sessions.append({"from_step": before, "to_step": _step(run_dir),
                     "seconds": round(time.perf_counter() - start, 1)})
    timing.write_text(json.dumps(sessions, indent=2) + "\n")


def evaluate(run_dir: Path, au_regressor: str | None, faces: int) -> dict:
    """metrics.json of the run (computed now unless it is newer than the checkpoint)."""
    out = run_dir / "eval"
    metrics = out / "metrics.json"
    newest = max((p.stat().st_mtime for p in run_dir.glob("checkpoints/ckpt-*.index")),
                 default=0)
    if not metrics.is_file() or metrics.stat().st_mtime < newest:
        command = [sys.executable, "-m", "defgan_tf.evaluate", "--run", str(run_dir),
                   "--out", str(out), "--faces", str(faces)]
        if au_regressor:
            command += ["--au-regressor", au_regressor]
        subprocess.run(command, check=True, cwd=ROOT)
    return json.loads(metrics.read_text())


def _value(results: dict, metric: str, path: tuple[str, ...], baseline: str = "model"):
    value = results["metrics"].get(metric, {}).get(baseline)
    for key in path:
        value = None if value is None else value.get(key)
    return value


def _cell(values: list) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    mean = sum(values) / len(values)
    spread = (max(values) - min(values)) / 2
    return f"{mean:.4g}" + (f" ± {spread:.2g}" if spread else "")


def _seconds_per_step(run_dir: Path) -> float | None:
    timing = run_dir / "ablation_timing.json"
    if not timing.is_file():
        return None
    sessions = json.loads(timing.read_text())
    steps = sum(s["to_step"] - s["from_step"] for s in sessions)
    return sum(s["seconds"] for s in sessions) / steps if steps else None


def table(runs: dict[str, list[Path]], results: dict[Path, dict]) -> str:
    """Markdown: one row per variant plus the no-edit and ground-truth baselines."""
    header = ["variant", "seeds", "steps", "s/step", *(c[0] for c in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant, dirs in runs.items():
        done = [d for d in dirs if d in results]
        cells = [_cell([_value(results[d], m, p) for d in done]) for _, m, p in COLUMNS]
        lines.append("| " + " | ".join([
            variant, str(len(done)), _cell([_step(d) for d in done]),
            _cell([_seconds_per_step(d) for d in done]), *cells]) + " |")
    any_result = next(iter(results.values()), None)
    for baseline in ("no_edit", "ground_truth"):
        if any_result is not None:
            cells = [_cell([_value(any_result, m, p, baseline)]) for _, m, p in COLUMNS]
            lines.append("| " + " | ".join([f"*{baseline.replace('_', ' ')}*", "–", "–", "–",
                                            *cells]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--seeds", nargs="+", type=at_least(0), default=[0, 1],
                        help="seeds of defgan and texture_only (the others run seed 0)")
    parser.add_argument("--runs", default="runs/ablation", help="folder of the run directories")
    parser.add_argument("--au-regressor", help="for au_error (python -m "
                        "defgan_tf.metrics.au_regressor)")
    parser.add_argument("--faces", type=positive_int, default=50, help="test faces per evaluation")
    parser.add_argument("--no-train", action="store_true", help="evaluate and tabulate only")
    args = parser.parse_args(argv)
    runs = {v: [ROOT / args.runs / f"{v}-s{s}"
                for s in (args.seeds if v in ("defgan", "texture_only") else args.seeds[:1])]
            for v in args.variants}
    results = {}
    for variant, dirs in runs.items():
        for seed, run_dir in zip(args.seeds, dirs):
            if not args.no_train:
                train(variant, seed, run_dir)
            if _step(run_dir):
                results[run_dir] = evaluate(run_dir, args.au_regressor, args.faces)
    print(table(runs, results))


if __name__ == "__main__":
    main()
