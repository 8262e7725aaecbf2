"""The evaluation's figures (matplotlib): sample grid, AU sweep, difference heatmaps, bars.

Each function writes one PNG and returns its path; none of them touches a model except
`au_sweep` and `stages`, which edit a few faces through an `edit` callable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from defgan_tf.aus import au_index
from defgan_tf.metrics.edit_set import EditFn, EditSet

SWEEP_AUS = ("AU01", "AU04", "AU12", "AU26", "AU45")
SWEEP_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _show(axis, image: np.ndarray, title: str = "") -> None:
    axis.imshow(np.clip((image + 1) / 2, 0, 1))
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=7)


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _face_starts(edits: EditSet, faces: int) -> list[int]:
    """Index of the first edit of each of the first `faces` faces (edits are face-major)."""
    per_face = len(dict.fromkeys(edits.expressions))
    return list(range(0, len(edits), per_face))[:faces]


def sample_grid(edits: EditSet, path: Path, faces: int = 4) -> Path:
    """Input then one edit per expression, for `faces` faces; truth rows on synthetic data."""
    names = list(dict.fromkeys(edits.expressions))
    starts = _face_starts(edits, faces)
    rows_per_face = 2 if edits.targets is not None else 1
    figure, axes = plt.subplots(len(starts) * rows_per_face, len(names) + 1,
                                figsize=(1.2 * (len(names) + 1), 1.3 * len(starts) * rows_per_face),
                                squeeze=False)
    for f, start in enumerate(starts):
        row = f * rows_per_face
        _show(axes[row, 0], edits.inputs[start], "input")
        for j, name in enumerate(names):
            _show(axes[row, j + 1], edits.edited[start + j], name)
        if rows_per_face == 2:
            axes[row + 1, 0].axis("off")
            for j, name in enumerate(names):
                _show(axes[row + 1, j + 1], edits.targets[start + j], f"{name} (truth)")
    return _save(figure, path)


def stages(edit: EditFn, edits: EditSet, path: Path, faces: int = 6) -> Path:
    """Input | deformed | mask | edited (| ground truth) for one edit of each of `faces` faces.

    Shows what each stage contributes: the warp's motion, where the texture branch
    paints (mask, black = painted), and the result against the true render.
    """
    per_face = len(dict.fromkeys(edits.expressions))
    # Face f shows expression 1 + f mod (n − 1): a different one per row, skipping the
    # first (neutral in the presets' order) when there is another to show.
    choices = range(1, per_face) if per_face > 1 else range(1)
    picks = [start + choices[f % len(choices)]
             for f, start in enumerate(_face_starts(edits, faces))]
    out = edit(edits.inputs[picks], edits.source_aus[picks], edits.target_aus[picks])
    edited = np.asarray(out["edited"])
    columns = [("input", edits.inputs[picks]),
               ("deformed", np.asarray(out.get("deformed", edited))),
               ("mask", np.asarray(out["mask"]) * 2 - 1 if "mask" in out else None),
               ("edited", edited),
               ("ground truth", None if edits.targets is None else edits.targets[picks])]
    columns = [(title, images) for title, images in columns if images is not None]
    figure, axes = plt.subplots(len(picks), len(columns), squeeze=False,
                                figsize=(1.3 * len(columns), 1.35 * len(picks)))
    for row, index in enumerate(picks):
        for column, (title, images) in enumerate(columns):
            image = images[row]
            image = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
            label = f"{title}: {edits.expressions[index]}" if title == "edited" else title
            _show(axes[row, column], image, label)
    return _save(figure, path)


def au_sweep(edit: EditFn, image: np.ndarray, source_aus: np.ndarray, path: Path,
             aus: Sequence[str] = SWEEP_AUS, levels: Sequence[float] = SWEEP_LEVELS) -> Path:
    """One face with single AUs swept over `levels` (paper Fig. 6): deformed and edited rows.

    Args:
        edit: see defgan_tf.metrics.edit_set.run_model.
        image: (S, S, 3) float32 in [-1, 1]; source_aus: its (17,) AUs.
    """
    figure, axes = plt.subplots(2 * len(aus), len(levels),
                                figsize=(1.2 * len(levels), 1.25 * 2 * len(aus)), squeeze=False)
    for i, code in enumerate(aus):
        targets = np.repeat(source_aus[None], len(levels), axis=0).astype(np.float32)
        targets[:, au_index(code)] = levels
        out = edit(np.repeat(image[None], len(levels), axis=0),
                   np.repeat(source_aus[None], len(levels), axis=0).astype(np.float32), targets)
        deformed = np.asarray(out.get("deformed", out["edited"]))
        for j, level in enumerate(levels):
            _show(axes[2 * i, j], deformed[j], f"{code}={level:g} deformed")
            _show(axes[2 * i + 1, j], np.asarray(out["edited"])[j], f"{code}={level:g} edited")
    return _save(figure, path)


def difference_heatmaps(edits: EditSet, path: Path, faces: int = 4) -> Path:
    """|edited − input| per expression (true change below it on synthetic data), moved
    regions outlined in cyan: where the edit spends its change (paper Fig. 5)."""
    names = list(dict.fromkeys(edits.expressions))
    starts = _face_starts(edits, faces)
    truth = edits.targets is not None
    moved = edits.moved_regions() if edits.regions is not None else None
    rows = len(starts) * (2 if truth else 1)
    figure, axes = plt.subplots(rows, len(names), figsize=(1.2 * len(names), 1.3 * rows),
                                squeeze=False)
    for f, start in enumerate(starts):
        for j, name in enumerate(names):
            k = start + j
            shown = [(np.abs(edits.edited[k] - edits.inputs[k]).mean(-1), f"{name} |edit−in|")]
            if truth:
                shown.append((np.abs(edits.targets[k] - edits.inputs[k]).mean(-1),
                              f"{name} |truth−in|"))
            for r, (values, title) in enumerate(shown):
                axis = axes[f * len(shown) + r, j]
                axis.imshow(values, cmap="inferno", vmin=0, vmax=0.5)
                if moved is not None and moved[k].any():
                    axis.contour(moved[k].astype(float), levels=[0.5], colors="cyan",
                                 linewidths=0.5)
                axis.set_xticks([])
                axis.set_yticks([])
                axis.set_title(title, fontsize=6)
    return _save(figure, path)


def expression_bars(values: dict[str, dict[str, float]], ylabel: str, path: Path) -> Path:
    """Grouped bars: one group per expression, one bar per series (e.g. model, truth)."""
    series = list(values)
    names = list(dict.fromkeys(n for v in values.values() for n in v))
    figure, axis = plt.subplots(figsize=(max(4.0, 0.8 * len(names)), 2.8))
    width = 0.8 / len(series)
    for s, label in enumerate(series):
        heights = [values[label].get(n, np.nan) for n in names]
        axis.bar(np.arange(len(names)) + s * width, heights, width, label=label)
    axis.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=30, fontsize=8)
    axis.set_ylabel(ylabel)
    axis.legend(fontsize=7)
    return _save(figure, path)
