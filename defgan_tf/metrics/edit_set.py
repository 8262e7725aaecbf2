"""A set of edits with everything the metrics compare them against (ground truth if known).

An EditSet holds inputs, AUs, the model's outputs and, on synthetic data, the rendered
truth: the target image, the true backward flow and where each AU acts. Metrics are
pure functions of it, and `no_edit()` / `ground_truth()` give the baselines they are
read against: the input returned unchanged, and the true edit.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from defgan_tf.aus import AU_CODES, NUM_AUS
from defgan_tf.editing.backends import images_to_model

CHANGED_AU_THRESHOLD = 0.1
"""An AU 'changes' in an edit when |target − source| exceeds this (intensity in [0, 1])."""

META_CSV = "synthetic_meta.csv"

EditFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Mapping[str, np.ndarray]]
"""(images, source_aus, target_aus) → maps by name ("edited", "deformed", "grid")."""

TextureFn = Callable[[np.ndarray, np.ndarray, np.ndarray], Mapping[str, np.ndarray]]
"""(deformed images, source_aus, target_aus) → maps by name ("edited"): a model's texture
branch alone."""


@dataclass
class EditSet:
    """N edits of S×S faces.

    Attributes:
        inputs: (N, S, S, 3) float32 in [-1, 1].
        source_aus, target_aus: (N, 17) float32 in [0, 1], AU_CODES order.
        expressions: N labels (the target preset's name) for per-expression tables.
        edited, deformed: (N, S, S, 3) float32 in [-1, 1], the model's outputs.
        flow: (N, S, S, 2) float32 backward flow in pixels, (x, y) (grid_to_flow_px).
        targets: (N, S, S, 3) float32 in [-1, 1], render(identity, target_aus); synthetic only.
        true_flow: (N, S, S, 2) float32, true_edit_flow(identity, source, target); synthetic.
        regions: (N, S, S, 17) bool, where each AU acts (renderer masks); synthetic only.
        textured_true_warp: (N, S, S, 3) float32, the input warped by the true flow and
            then painted by the model's texture branch; synthetic data and a model
            whose texture branch runs alone (a run directory) only; None in the
            baselines, which have no texture branch.
    """

    inputs: np.ndarray
    source_aus: np.ndarray
    target_aus: np.ndarray
    expressions: tuple[str, ...]
    edited: np.ndarray
    deformed: np.ndarray
    flow: np.ndarray
    targets: np.ndarray | None = None
    true_flow: np.ndarray | None = None
    regions: np.ndarray | None = None
    textured_true_warp: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def has_ground_truth(self) -> bool:
        """Whether target images, true flows and AU regions are known (synthetic data)."""
        return self.targets is not None and self.true_flow is not None \
            and self.regions is not None

    def _require_ground_truth(self) -> None:
        if not self.has_ground_truth:
            raise ValueError("this EditSet has no ground truth (not synthetic data).")

    def no_edit(self) -> EditSet:
        """The baseline that returns every input unchanged (zero flow)."""
        return dataclasses.replace(self, edited=self.inputs, deformed=self.inputs,
                                   flow=np.zeros_like(self.flow), textured_true_warp=None)

    def ground_truth(self) -> EditSet:
        """The true edit as if a model had made it (synthetic data only)."""
        self._require_ground_truth()
        return dataclasses.replace(self, edited=self.targets, deformed=self.targets,
                                   flow=self.true_flow, textured_true_warp=None)

    def true_warp(self) -> EditSet:
        """The input warped by the true flow: the best a deformation alone can do.

        What a perfect warp leaves wrong is what only the texture branch can make
        (an open mouth's teeth, a closing lid), so it tells how much of an edit's
        error the deformation could remove (synthetic data only).
        """
        self._require_ground_truth()
        warped = self.warp_inputs(self.true_flow)
        return dataclasses.replace(self, edited=warped, deformed=warped, flow=self.true_flow,
                                   textured_true_warp=None)

    def warp_inputs(self, flow: np.ndarray) -> np.ndarray:
        """The inputs warped by a backward flow in pixels, (N, S, S, 2) as `flow`."""
        from defgan_tf.ops.grids import flow_px_to_grid
        from defgan_tf.ops.warp import warp

        return np.asarray(warp(self.inputs, flow_px_to_grid(flow)), np.float32)

    def changed_aus(self, threshold: float = CHANGED_AU_THRESHOLD) -> np.ndarray:
        """(N, 17) bool: the AUs each edit changes by more than `threshold`."""
        return np.abs(self.target_aus - self.source_aus) > threshold

    def moved_regions(self, threshold: float = CHANGED_AU_THRESHOLD) -> np.ndarray:
        """(N, S, S) bool: union of the regions of the AUs each edit changes."""
        if self.regions is None:
            raise ValueError("this EditSet has no AU regions (not synthetic data).")
        return np.einsum("nhwk,nk->nhw", self.regions.astype(np.float32),
                         self.changed_aus(threshold).astype(np.float32)) > 0


def group_mean(values: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """Mean of per-edit `values` (N,) for each label, NaNs ignored, labels in first-seen order."""
    values = np.asarray(values, np.float64)
    out = {}
    for label in dict.fromkeys(labels):
        chosen = values[np.asarray(labels) == label]
        chosen = chosen[np.isfinite(chosen)]
        out[label] = float(chosen.mean()) if len(chosen) else float("nan")
    return out


@dataclass(frozen=True)
class SyntheticFace:
    """One row of a synthetic dataset's synthetic_meta.csv."""

    filename: str
    identity_seed: int
    split: str
    aus: np.ndarray


def read_synthetic_meta(data_dir: str | Path) -> list[SyntheticFace]:
    """Reads `synthetic_meta.csv` (written by defgan_tf.data.synthetic).

    Raises:
        FileNotFoundError: the folder is not a synthetic dataset.
    """
    path = Path(data_dir) / META_CSV
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: ground-truth metrics need a dataset "
                                "written by `python -m defgan_tf.data.synthetic`.")
    with path.open(newline="") as handle:
        return [SyntheticFace(row["filename"], int(row["identity_seed"]), row["split"],
                              np.array([float(row[c]) for c in AU_CODES], np.float32))
                for row in csv.DictReader(handle)]


def expression_targets(presets: dict[str, np.ndarray], faces: int, jitter: float,
                       rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Target AUs: for every face, each preset with U(−jitter, jitter) noise, clipped.

    With F faces this gives F random AU vectors per expression (the paper's Fig. 3
    uses 50).

    Returns:
        (faces × P, 17) float32 targets ordered face-major, and their P-cycled labels.
    """
    names = list(presets)
    base = np.stack([presets[n] for n in names]).astype(np.float32)
    noise = rng.uniform(-jitter, jitter, size=(faces, *base.shape)).astype(np.float32)
    targets = np.clip(base[None] + noise * (base[None] > 0), 0.0, 1.0)
    return targets.reshape(-1, base.shape[-1]), names * faces


def single_au_targets(source_aus: np.ndarray, step: float) -> tuple[np.ndarray, list[str]]:
    """Targets that each change one AU of a face: where each AU's learned motion goes.

    For every face and AU k, the face's own AUs with AU k moved by `step`: up when the
    face shows it at ≤ 0.5, down otherwise (clipped to [0, 1]). The edits' labels are
    the AU codes, so per-expression results read per AU.

    Args:
        source_aus: (F, 17) float in [0, 1], the faces' AUs.
        step: how far to move each AU, in (0, 1].

    Returns:
        (F × 17, 17) float32 targets ordered face-major, and their AU-code labels.
    """
    if not 0 < step <= 1:
        raise ValueError(f"the single-AU step must be in (0, 1]. Received: {step}")
    source_aus = np.asarray(source_aus, np.float32)
    targets = np.repeat(source_aus[:, None, :], NUM_AUS, axis=1)
    k = np.arange(NUM_AUS)
    shown = targets[:, k, k]
    targets[:, k, k] = np.where(shown <= 0.5, np.minimum(shown + step, 1.0),
                                np.maximum(shown - step, 0.0))
    return targets.reshape(-1, NUM_AUS), list(AU_CODES) * len(source_aus)


def _targets(presets: dict[str, np.ndarray], source_aus: np.ndarray, jitter: float, seed: int,
             single_au_step: float | None) -> tuple[np.ndarray, list[str]]:
    if single_au_step is not None:
        return single_au_targets(source_aus, single_au_step)
    return expression_targets(presets, len(source_aus), jitter, np.random.default_rng(seed))


def run_model(edit: EditFn, inputs: np.ndarray, source_aus: np.ndarray,
              target_aus: np.ndarray, batch_size: int = 16) -> dict[str, np.ndarray]:
    """Edits in batches.

    Args:
        edit: (images, source_aus, target_aus) → maps by name, e.g. a
            `defgan_tf.editing.backends.Backend.edit`; needs `edited`, uses `deformed`
            and `grid` when present (else the edit itself and zero flow).
        inputs: (N, S, S, 3) float32 in [-1, 1]; source_aus, target_aus: (N, 17).
        batch_size: images per call.

    Returns:
        "edited", "deformed" (N, S, S, 3) float32 and "flow" (N, S, S, 2) pixels.
    """
    from defgan_tf.ops.grids import grid_to_flow_px

    parts: dict[str, list[np.ndarray]] = {"edited": [], "deformed": [], "flow": []}
    for start in range(0, len(inputs), batch_size):
        chunk = slice(start, start + batch_size)
        out = edit(inputs[chunk], source_aus[chunk], target_aus[chunk])
        edited = np.asarray(out["edited"], np.float32)
        parts["edited"].append(edited)
        parts["deformed"].append(np.asarray(out.get("deformed", edited), np.float32))
        parts["flow"].append(np.asarray(grid_to_flow_px(out["grid"])) if "grid" in out
                             else np.zeros((*edited.shape[:3], 2), np.float32))
    return {key: np.concatenate(value) for key, value in parts.items()}


def in_batches(run: Callable[..., np.ndarray], *arrays: np.ndarray,
               batch_size: int = 16) -> np.ndarray:
    """`run` on consecutive slices of `arrays` (same length), results concatenated as float32."""
    return np.concatenate([
        np.asarray(run(*(array[start:start + batch_size] for array in arrays)), np.float32)
        for start in range(0, len(arrays[0]), batch_size)])


def load_arrays(index, image_size: int, limit: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Decodes (the first `limit` faces of) a dataset index into memory.

    Returns:
        images (N, S, S, 3) float32 in [-1, 1] and AUs (N, 17) float32 in [0, 1].
    """
    from defgan_tf.data.pipeline import make_dataset

    batches = make_dataset(index, image_size, 256, training=False, repeat=False)
    if limit is not None:
        batches = batches.unbatch().take(limit).batch(256)
    images, aus = [], []
    for batch in batches:
        images.append(batch["image"].numpy())
        aus.append(batch["source_aus"].numpy())
    return np.concatenate(images), np.concatenate(aus)


def _edit_outputs(edit: EditFn | None, inputs: np.ndarray, sources: np.ndarray,
                  targets: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
    if edit is None:
        return {"edited": inputs, "deformed": inputs,
                "flow": np.zeros((*inputs.shape[:3], 2), np.float32)}
    return run_model(edit, inputs, sources, targets, batch_size)


def dataset_edit_set(edit: EditFn | None, index, image_size: int,
                     presets: dict[str, np.ndarray], faces: int = 50, jitter: float = 0.1,
                     seed: int = 0, batch_size: int = 16,
                     single_au_step: float | None = None) -> EditSet:
    """Edits the first `faces` faces of any dataset toward every preset, or one AU at a time
    (`single_au_step`); no ground truth.

    Args:
        edit: see run_model; None leaves every input unchanged.
        index: a `defgan_tf.data.readers.DatasetIndex`.
        image_size, presets, faces, jitter, seed, batch_size, single_au_step: as
            synthetic_edit_set.
    """
    images, aus = load_arrays(index, image_size, faces)
    targets, labels = _targets(presets, aus, jitter, seed, single_au_step)
    per_face = len(targets) // len(images)
    inputs = np.repeat(images, per_face, axis=0)
    sources = np.repeat(aus, per_face, axis=0)
    return EditSet(inputs=inputs, source_aus=sources, target_aus=targets,
                   expressions=tuple(labels),
                   **_edit_outputs(edit, inputs, sources, targets, batch_size))



def synthetic_edit_set(edit: EditFn | None, data_dir: str | Path, image_size: int,
                       presets: dict[str, np.ndarray], faces: int = 50, split: str = "test",
                       jitter: float = 0.1, seed: int = 0, batch_size: int = 16,
                       texture: TextureFn | None = None,
                       single_au_step: float | None = None) -> EditSet:
    """Edits `faces` faces of a synthetic dataset toward every preset, or one AU at a time
    (`single_au_step`), with ground truth.

    Faces are re-rendered at `image_size` from their identity seed and AUs (so input
    and truth are pixel-aligned whatever size the dataset was written at); one face per
    identity, the first `faces` identities of `split`.

    Args:
        edit: see run_model; None leaves every input unchanged (baselines only).
        data_dir: a dataset written by `python -m defgan_tf.data.synthetic`.
        image_size: side S the model works at.
        presets: expression name → (17,) target AUs.
        faces: number of faces (distinct identities).
        split: train | test | all.
        jitter: per-face noise on each preset's active AUs.
        seed: fixes the jitter.
        batch_size: images per model call.
        texture: the model's texture branch alone (e.g. `KerasBackend.texture`); when
            given, it also paints the true warp (`EditSet.textured_true_warp`).
        single_au_step: instead of the presets, 17 edits per face that each move one AU
            by this much (`single_au_targets`), labelled by AU code.

    Returns:
        An EditSet of faces × len(presets) (or × 17) edits with targets, true flows and
        regions.
    """
    from defgan_tf.data.synthetic import make_identity, render, true_edit_flow

    rows, seen = [], set()
    for row in read_synthetic_meta(data_dir):
        if (split == "all" or row.split == split) and row.identity_seed not in seen:
            seen.add(row.identity_seed)
            rows.append(row)
    rows = rows[:faces]
    if not rows:
        raise ValueError(f"{data_dir}: no face in split {split!r}.")
    targets, labels = _targets(presets, np.stack([np.asarray(row.aus, np.float32)
                                                  for row in rows]),
                               jitter, seed, single_au_step)
    per_face = len(targets) // len(rows)
    inputs, sources, truths, flows, regions = [], [], [], [], []
    for i, row in enumerate(rows):
        identity = make_identity(row.identity_seed)
        source = render(identity, row.aus, image_size)
        for target_aus in targets[i * per_face:(i + 1) * per_face]:
            truth = render(identity, target_aus, image_size)
            inputs.append(images_to_model(source.image))
            sources.append(row.aus)
            truths.append(images_to_model(truth.image))
            flows.append(true_edit_flow(identity, row.aus, target_aus, image_size))
            regions.append(truth.regions)
    inputs_array, sources_array = np.stack(inputs), np.stack(sources)
    outputs = _edit_outputs(edit, inputs_array, sources_array, targets, batch_size)
    edits = EditSet(inputs=inputs_array, source_aus=sources_array, target_aus=targets,
                    expressions=tuple(labels), **outputs, targets=np.stack(truths),
                    true_flow=np.stack(flows), regions=np.stack(regions))
    if texture is None:
        return edits
    painted = in_batches(lambda *arrays: texture(*arrays)["edited"], edits.true_warp().edited,
                         sources_array, targets, batch_size=batch_size)
    return dataclasses.replace(edits, textured_true_warp=painted)
