"""Writes a synthetic dataset in the on-disk format of a real OpenFace-labelled one."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from defgan_tf.aus import AU_CODES
from defgan_tf.data.synthetic.identity import make_identity
from defgan_tf.data.synthetic.render import MIN_SIZE, render
from defgan_tf.data.synthetic.sampling import sample_aus

FORMAT_VERSION = 1
IMAGES_PER_IDENTITY = (8, 12)  # inclusive range of expressions rendered per identity
OPENFACE_CSV = "aus_openface.csv"
META_CSV = "synthetic_meta.csv"
INFO_JSON = "synthetic.json"
SPLIT_FILES = {"train": "train_ids.csv", "test": "test_ids.csv"}
CONFIDENCE = 0.98
MIN_COUNT_FOR_WORKERS = 400  # below this, worker start-up (~0.5 s each) outweighs the gain


@dataclass(frozen=True)
class _Group:
    """One identity's images: the unit of work of a worker process."""

    identity_seed: int
    split: str
    filenames: tuple[str, ...]
    aus: np.ndarray


def plan_dataset(count: int, seed: int, test_fraction: float = 0.1) -> list[_Group]:
    """Decides every image of a dataset: identities, splits, expressions, file names.

    Identities are split (never images), so no test identity appears in train. Only
    `count` and `seed` (and `test_fraction`) matter: workers do not change the plan.
    """
    rng = np.random.default_rng([int(seed), 0xDA7A])
    sizes, total = [], 0
    while total < count:
        sizes.append(int(rng.integers(IMAGES_PER_IDENTITY[0], IMAGES_PER_IDENTITY[1] + 1)))
        total += sizes[-1]
    sizes[-1] -= total - count
    seeds = rng.choice(2**31 - 1, size=len(sizes), replace=False)
    n_test = round(test_fraction * len(sizes))
    if test_fraction > 0 and len(sizes) > 1:
        n_test = min(max(n_test, 1), len(sizes) - 1)
    test = set(rng.permutation(len(sizes))[:n_test].tolist())
    width = max(6, len(str(count - 1)))
    groups, start = [], 0
    for g, (n, identity_seed) in enumerate(zip(sizes, seeds)):
        names = tuple(f"{i:0{width}d}.png" for i in range(start, start + n))
        aus = sample_aus(np.random.default_rng([int(seed), int(identity_seed)]), n)
        groups.append(_Group(int(identity_seed), "test" if g in test else "train", names, aus))
        start += n
    return groups


def _render_group(task: tuple[_Group, int, str]) -> int:
    group, size, folder = task
    identity = make_identity(group.identity_seed)
    for name, aus in zip(group.filenames, group.aus):
        image = render(identity, aus, size).image
        ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise OSError(f"could not encode {name} as PNG")
        Path(folder, name).write_bytes(data.tobytes())
    return len(group.filenames)


def _worker_init() -> None:
    cv2.setNumThreads(1)


def holds_other_files(out: Path) -> bool:
    """Whether `out` is a non-empty folder that is not a synthetic dataset.

    Rendering into it would mix the faces with someone else's files.
    """
    return out.is_dir() and any(out.iterdir()) and not (out / INFO_JSON).exists()


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file. Choose a new or empty folder.")
    if holds_other_files(out):
        raise FileExistsError(f"--out {out} exists and is not an earlier synthetic dataset "
                              f"(no {INFO_JSON}). Choose a new or empty folder.")


def _swap_in(staging: Path, out: Path) -> None:
    """Puts the finished dataset at `out`, replacing an earlier one only now, so an
    interrupted render never leaves a folder that looks complete but is not."""
    old = out.parent / f".{out.name}-replaced-{uuid.uuid4().hex}"
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _write_tables(out: Path, groups: list[_Group]) -> None:
    r_cols = [f"{code}_r" for code in AU_CODES]
    c_cols = [f"{code}_c" for code in AU_CODES]
    openface = [", ".join(["filename", "face", "confidence", "success", *r_cols, *c_cols])]
    meta = [",".join(["filename", "identity_seed", "split", *AU_CODES])]
    splits = {name: [] for name in SPLIT_FILES}
    for group in groups:
        for name, aus in zip(group.filenames, group.aus.astype(np.float64)):
            intensity = aus * 5
            openface.append(", ".join(
                [name, "0", f"{CONFIDENCE:.2f}", "1", *(f"{v:.3f}" for v in intensity),
                 *("1.00" if v >= 1 else "0.00" for v in intensity)]))
            meta.append(",".join([name, str(group.identity_seed), group.split,
                                  *(f"{v:.3f}" for v in aus)]))
            splits[group.split].append(name)
    (out / OPENFACE_CSV).write_text("\n".join(openface) + "\n")
    (out / META_CSV).write_text("\n".join(meta) + "\n")
    for split, names in splits.items():
        (out / SPLIT_FILES[split]).write_text("".join(f"{n}\n" for n in names))


def write_dataset(out_dir: str | os.PathLike, count: int, size: int = 128, seed: int = 0,
                  workers: int | None = None, test_fraction: float = 0.1,
                  progress: bool = True) -> Path:
    """Renders `count` faces into `out_dir` in GANimation / OpenFace layout.

    Writes `imgs/<id>.png`, `aus_openface.csv` (OpenFace columns, intensities 0-5),
    `train_ids.csv` / `test_ids.csv` (split by identity), `synthetic_meta.csv`
    (identity seed, split and AUs in [0, 1] per image, to re-render ground truth) and
    `synthetic.json`. The bytes depend only on count, size, seed and test_fraction.

    Args:
        out_dir: new or empty folder, or an earlier synthetic dataset, which is replaced
            once the new one is complete (it renders into a hidden folder beside it).
        count: number of images (> 0).
        size: image side in pixels (>= 32).
        seed: master seed.
        workers: processes rendering in parallel; 1 = in-process; None = all CPUs for
            `MIN_COUNT_FOR_WORKERS` faces or more, else 1.
        test_fraction: share of identities in the test split, in [0, 1).
        progress: show a tqdm progress bar.

    Returns:
        The dataset folder.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1. Received: count={count}")
    if size < MIN_SIZE:
        raise ValueError(f"size must be >= {MIN_SIZE}. Received: size={size}")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1). Received: {test_fraction}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2^32). Received: seed={seed}")
    out = Path(out_dir)
    _check_out(out)
    groups = plan_dataset(count, seed, test_fraction)
    staging = out.parent / f".{out.name}-rendering-{uuid.uuid4().hex}"
    (staging / "imgs").mkdir(parents=True)
    try:
        _render(staging / "imgs", groups, size, workers, progress)
        _write_tables(staging, groups)
        info = {"generator": "defgan_tf.data.synthetic", "version": FORMAT_VERSION,
                "count": count, "size": size, "seed": seed, "test_fraction": test_fraction,
                "identities": len(groups),
                "test_identities": sum(g.split == "test" for g in groups)}
        (staging / INFO_JSON).write_text(json.dumps(info, indent=2) + "\n")
        _swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _render(images: Path, groups: list[_Group], size: int, workers: int | None,
            progress: bool) -> None:
    """Renders every group's faces as PNGs into `images`."""
    count = sum(len(g.filenames) for g in groups)
    if workers is None:  # starting interpreters costs more than small datasets take
        workers = (os.cpu_count() or 1) if count >= MIN_COUNT_FOR_WORKERS else 1
    workers = min(max(1, workers), len(groups))
    tasks = [(group, size, str(images)) for group in groups]
    with tqdm(total=count, unit="face", disable=not progress, desc="synthetic faces") as bar:
        if workers == 1:
            for task in tasks:
                bar.update(_render_group(task))
        else:
            # Fresh interpreters: safe even when the caller runs TensorFlow's threads.
            context = multiprocessing.get_context("spawn")
            with context.Pool(workers, initializer=_worker_init) as pool:
                for done in pool.imap_unordered(_render_group, tasks, chunksize=4):
                    bar.update(done)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m defgan_tf.data.synthetic --out DIR --count N --size S --seed K`."""
    parser = argparse.ArgumentParser(
        prog="python -m defgan_tf.data.synthetic",
        description="Render an AU-labelled synthetic face dataset (OpenFace CSV layout).")
    parser.add_argument("--out", required=True, help="dataset folder to create")
    parser.add_argument("--count", type=int, required=True, help="number of images")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="master seed (fixes every byte)")
    parser.add_argument("--workers", type=int, default=None,
                        help=f"rendering processes (default: all CPUs from "
                             f"{MIN_COUNT_FOR_WORKERS} faces on, else 1)")
    parser.add_argument("--test-fraction", type=float, default=0.1,
                        help="share of identities held out in test_ids.csv")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        out = write_dataset(args.out, args.count, args.size, args.seed, args.workers,
                            args.test_fraction, progress=not args.quiet)
    except (ValueError, OSError) as error:  # FileExistsError, a full disk, no permission
        parser.exit(2, f"error: {error}\n")
    print(f"wrote {args.count} faces to {out}", file=sys.stderr)
    return 0
