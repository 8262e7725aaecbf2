"""Synthetic dataset throughput: faces written per second by `write_dataset`, as JSON.

The issue's target is >= 500 faces/s at 128 x 128 on 2 CPU cores. Each measurement
writes a complete dataset (render, PNG encode, CSVs) into a temporary folder, so it
includes process start-up and file I/O, as the training CLI sees it.

    python benchmarks/synthetic_throughput.py [--count 2000] [--sizes 64 128] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from defgan_tf.data.synthetic import write_dataset

TARGET = {"size": 128, "workers": 2, "faces_per_s": 500}


def measure(count: int, size: int, workers: int, seed: int = 0) -> dict:
    """Writes one dataset and times it; returns a JSON-ready record."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        write_dataset(os.path.join(folder, "data"), count, size, seed, workers=workers,
                      progress=False)
        seconds = time.perf_counter() - start
    return {"size": size, "workers": workers, "count": count, "seconds": round(seconds, 3),
            "faces_per_s": round(count / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="faces per measurement")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    results = [measure(args.count, size, workers)
               for size in args.sizes for workers in args.workers]
    met = [r["faces_per_s"] >= TARGET["faces_per_s"] for r in results
           if (r["size"], r["workers"]) == (TARGET["size"], TARGET["workers"])]
    print(json.dumps({"cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
                      "target": TARGET, "meets_target": all(met) if met else None,
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
