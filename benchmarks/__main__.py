"""`python -m benchmarks [--quick] [--only a,b] [--out FILE]`: every benchmark, one JSON.

Runs each benchmark script in its own process (so one's threads and memory do not bias
the next), parses the JSON it prints and gathers everything with the machine's float32
matmul peak, measured before and after the suite (the VM is shared: the two numbers
show how much the load moved). `--quick` gives each script small arguments so the
suite ends in a few minutes; the full settings are the scripts' own defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from defgan_tf import files
from defgan_tf.arguments import one_of

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Benchmark:
    """One script of the suite: its command after `python`, full and quick arguments."""

    name: str
    command: tuple[str, ...]
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()


SUITE = (
    Benchmark("model_summary", ("-m", "defgan_tf.models.summary", "--json"),
              ("--config", "configs/paper.yaml"), ("--config", "configs/quickstart.yaml")),
    Benchmark("warp_throughput", ("benchmarks/warp_throughput.py",), (),
              ("--batch", "8", "--size", "64", "--rounds", "2", "--seconds", "0.5")),
    Benchmark("synthetic_throughput", ("benchmarks/synthetic_throughput.py",), (),
              ("--count", "400", "--sizes", "64", "--workers", "1")),
    Benchmark("pipeline_throughput", ("benchmarks/pipeline_throughput.py",), (),
              ("--count", "200", "--size", "64", "--batches", "20", "--shards", "2")),
    Benchmark("identity_throughput", ("benchmarks/identity_throughput.py",), (),
              ("--batch", "8", "--repeats", "3")),
    Benchmark("train_throughput", ("benchmarks/train_throughput.py",), (), ("--steps", "2")),
    Benchmark("edit_latency", ("benchmarks/edit_latency.py",), (), ("--repeats", "3")),
    Benchmark("vs_pytorch", ("benchmarks/vs_pytorch.py",), (), ("--quick",)),
)


def matmul_peak_gflops(size: int = 1024, repeats: int = 10) -> float:
    """Best float32 matmul rate of this machine (GFLOP/s), in a fresh process."""
    code = ("import time, tensorflow as tf\n"
            f"a = tf.random.normal(({size}, {size})); b = tf.random.normal(({size}, {size}))\n"
            "f = tf.function(tf.matmul); f(a, b).numpy(); best = 1e9\n"
            f"for _ in range({repeats}):\n"
            "    t = time.perf_counter(); f(a, b).numpy()\n"
            "    best = min(best, time.perf_counter() - t)\n"
            f"print(2 * {size}**3 / best / 1e9)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=_environment(), cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def _environment() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}


def last_json(text: str):
    """The last JSON document a script printed (scripts may log lines before it)."""
    start = text.find("{")
    while start != -1:
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
    raise ValueError("no JSON document in the output")


def run(benchmark: Benchmark, quick: bool, timeout: float) -> dict:
    """Runs one script; returns {"seconds", "result"} or {"seconds", "error"}."""
    if not (benchmark.command[0] == "-m" or (ROOT / benchmark.command[0]).is_file()):
        return {"error": f"{benchmark.command[0]} not found"}
    argv = [sys.executable, *benchmark.command, *(benchmark.quick if quick else benchmark.full)]
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env=_environment())
    except subprocess.TimeoutExpired:
        return {"seconds": round(time.perf_counter() - start, 1),
                "error": f"timed out after {timeout:g} s"}
    seconds = round(time.perf_counter() - start, 1)
    if done.returncode != 0:
        return {"seconds": seconds, "error": f"exit {done.returncode}: "
                f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}"}
    try:
        return {"seconds": seconds, "result": last_json(done.stdout)}
    except ValueError as error:
        return {"seconds": seconds, "error": str(error)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [b.name for b in SUITE]
    benchmark_name = one_of(names, "benchmark")
    parser.add_argument("--quick", action="store_true", help="small arguments (a few minutes)")
    parser.add_argument("--only", type=lambda t: [benchmark_name(n.strip()) for n in t.split(",")],
                        help=f"comma-separated subset of: {', '.join(names)}")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per benchmark")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    chosen = [b for b in SUITE if args.only is None or b.name in args.only]
    report = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version(),
                          "load_average": os.getloadavg()},
              "quick": args.quick, "matmul_peak_gflops_before": matmul_peak_gflops()}
    results = {}
    for benchmark in chosen:
        print(f"running {benchmark.name} ...", file=sys.stderr, flush=True)
        results[benchmark.name] = run(benchmark, args.quick, args.timeout)
    report["benchmarks"] = results
    report["matmul_peak_gflops_after"] = matmul_peak_gflops()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        try:  # replaced whole or not at all; the report is on stdout either way
            files.write_text(args.out, text + "\n")
        except OSError as error:
            print(f"error: --out {args.out}: {error.strerror or error}", file=sys.stderr)
            return 2
    return 0 if all("result" in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
