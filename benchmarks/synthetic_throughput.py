"""Synthetic dataset throughput: faces written per second by `write_dataset`, as JSON.

The issue's target is >= 500 faces/s at 128 x 128 on 2 CPU cores. Each measurement
writes a complete dataset (render, PNG encode, CSVs) into a temporary folder, so it
includes process start-up and file I/O, as the training CLI sees it. The folder is
on /dev/shm when it exists (`--dir` to choose), so that a slow disk does not hide the
renderer's speed; on this project's VM a file costs ~0.7 ms of CPU on the disk.

`faces_per_s` is wall-clock throughput. On a machine that other jobs share it
understates the renderer, so each record also gives `faces_per_cpu_s` (faces per
CPU-second over this process and its workers) and `projected_faces_per_s`
(= faces_per_cpu_s x workers, what the same work yields with the cores to itself).

    python benchmarks/synthetic_throughput.py [--count 4000] [--sizes 64 128] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time

from defgan_tf.arguments import at_least, positive_int
from defgan_tf.data.synthetic import write_dataset
from defgan_tf.data.synthetic.render import MIN_SIZE

TARGET = {"size": 128, "workers": 2, "faces_per_s": 500}


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def measure(count: int, size: int, workers: int, base: str | None, seed: int = 0) -> dict:
    """Writes one dataset under `base` and times it; returns a JSON-ready record."""
    with tempfile.TemporaryDirectory(dir=base) as folder:
        cpu, start = _cpu_seconds(), time.perf_counter()
        write_dataset(os.path.join(folder, "data"), count, size, seed, workers=workers,
                      progress=False)
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    return {"size": size, "workers": workers, "count": count, "seconds": round(seconds, 3),
            "faces_per_s": round(count / seconds, 1),
            "faces_per_cpu_s": round(count / cpu, 1),
            "projected_faces_per_s": round(count / cpu * workers, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=positive_int, default=4000,
                        help="faces per measurement (default: the quickstart's dataset size)")
    parser.add_argument("--sizes", type=at_least(MIN_SIZE), nargs="+", default=[64, 128],
                        help=f"image sides (the renderer's smallest is {MIN_SIZE})")
    parser.add_argument("--workers", type=positive_int, nargs="+", default=[1, 2])
    parser.add_argument("--dir", default="/dev/shm" if os.access("/dev/shm", os.W_OK) else None,
                        help="where the temporary datasets go (default /dev/shm if writable)")
    args = parser.parse_args(argv)
    results = [measure(args.count, size, workers, args.dir)
               for size in args.sizes for workers in args.workers]
    target = [r for r in results
              if (r["size"], r["workers"]) == (TARGET["size"], TARGET["workers"])]
    print(json.dumps({
        "cpu_count": os.cpu_count(), "load_average": [round(v, 2) for v in os.getloadavg()],
        "folder": args.dir or tempfile.gettempdir(),
        "target": TARGET,
        "meets_target": all(r["faces_per_s"] >= TARGET["faces_per_s"] for r in target)
        if target else None,
        "meets_target_projected": all(r["projected_faces_per_s"] >= TARGET["faces_per_s"]
                                      for r in target) if target else None,
        "results": results}, indent=2))


if __name__ == "__main__":
    main()
