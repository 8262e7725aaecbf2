"""The `Editor`: edit every face of a photo toward an expression and return the same photo.

Pipeline per photo: detect faces → align each to the training crop convention
(`defgan_tf.data.faces.alignment_matrix`) → estimate the source AUs with the
critic's AU head (or take them from the caller) → run the model on all crops in
one batch → paste each edited crop back with a feathered, colour-matched mask, so
pixels outside the faces are bit-identical to the input.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import pathlib
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from defgan_tf.aus import AU_CODES, PRESETS, au_index, get_expression, parse_aus
from defgan_tf.data.faces import (
    CROP_PADDING,
    MIN_FACE_SIZE,
    Face,
    alignment_matrix,
    crop_face,
    detect_faces,
    face_mask,
    paste_back,
    transform_points,
)
from defgan_tf.editing import visualize
from defgan_tf.editing.backends import (
    Backend,
    images_from_model,
    images_to_model,
    load_backend,
)

logger = logging.getLogger(__name__)


class EditError(ValueError):
    """A photo that cannot be edited as asked (no face, face too small, bad option)."""


@dataclasses.dataclass
class FaceEdit:
    """One edited face.

    Attributes:
        face: the detection (photo coordinates).
        matrix: (2, 3) photo → crop alignment.
        crop: (S, S, 3) uint8 aligned input crop.
        edited_crop: (S, S, 3) uint8 model output.
        mask: (S, S) float32 paste-back mask in crop coordinates.
        source_aus, target_aus: (17,) float32 in [0, 1].
        maps: the model's maps for this face, float32 (`deformed`, `grid`, `color`,
            `mask`), filled when `return_maps=True`.
    """

    face: Face
    matrix: np.ndarray
    crop: np.ndarray
    edited_crop: np.ndarray
    mask: np.ndarray
    source_aus: np.ndarray
    target_aus: np.ndarray
    maps: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def debug_images(self) -> dict[str, np.ndarray]:
        """Paper Fig. 5 style maps as (S, S, 3) uint8: deformed, mask, flow, |edit − input|."""
        images = {"input": self.crop}
        if "deformed" in self.maps:
            images["deformed"] = images_from_model(self.maps["deformed"])
        if "mask" in self.maps:
            images["attention"] = visualize.heatmap(self.maps["mask"][..., 0], max_value=1.0)
        if "grid" in self.maps:
            images["flow"] = visualize.flow_to_rgb(self.maps["grid"])
        difference = np.abs(self.edited_crop.astype(np.float32) - self.crop) / 127.5
        images["difference"] = visualize.heatmap(difference)
        images["edited"] = self.edited_crop
        return images


@dataclasses.dataclass
class EditResult:
    """The edited photo and what happened to each face.

    Attributes:
        image: (H, W, 3) uint8, the input's size.
        faces: one `FaceEdit` per edited face, largest face first.
    """

    image: np.ndarray
    faces: list[FaceEdit]


class Editor:
    """Edits facial expressions in photos with a trained DefGAN.

    Args:
        backend: a loaded model (see `defgan_tf.editing.backends`).
        detector: "hog", "cnn" or "haar" (see `defgan_tf.data.faces.detect_faces`).
        presets: expression name → (17,) AUs; default the built-in `defgan_tf.aus.PRESETS`.
        color_match: match the edited face's colour to the photo at the seam.
        min_face_size: smallest face box (pixels) the editor accepts.
        padding: crop padding; must be the framing the model was trained on
            (`CROP_PADDING` for crops made by `data.prepare faces`).

    Example:
        >>> editor = Editor.from_path("runs/quickstart")
        >>> result = editor.edit(photo, expression="happy")
        >>> result.image.shape == photo.shape
        True
    """

    def __init__(self, backend: Backend, detector: str = "hog",
                 presets: dict[str, np.ndarray] | None = None, color_match: bool = True,
                 min_face_size: int = MIN_FACE_SIZE, padding: float = CROP_PADDING):
        self.backend, self.detector, self.presets = backend, detector, presets
        self.color_match, self.min_face_size = color_match, min_face_size
        if not 0 <= padding <= 2:
            raise EditError(f"crop padding must be in [0, 2]; received {padding}.")
        self.padding = padding

    @classmethod
    def from_path(cls, model: str | pathlib.Path, use_ema: bool = True, **kwargs) -> Editor:
        """An editor for a run directory, SavedModel directory or .tflite file.

        `use_ema=False` edits with a run directory's raw generator weights instead of
        their moving average (see `load_backend`).
        """
        return cls(load_backend(model, use_ema=use_ema), **kwargs)

    @property
    def image_size(self) -> int:
        """Side of the crops the model edits."""
        return self.backend.image_size

    # ------------------------------------------------------------------ steps

    def find_faces(self, image: np.ndarray, face_index: int | None = None) -> list[Face]:
        """Detects the faces to edit, largest first.

        Faces smaller than `min_face_size` are skipped with a warning.

        Raises:
            EditError: no face, only faces smaller than `min_face_size`, or `face_index`
                out of range.
        """
        faces = detect_faces(image, self.detector)
        if not faces:
            hint = "; try --detector cnn." if self.detector != "cnn" else "."
            raise EditError(f"no face found (detector {self.detector!r}, image "
                            f"{image.shape[1]}×{image.shape[0]}){hint}")
        if face_index is not None:
            if not -len(faces) <= face_index < len(faces):
                raise EditError(f"--face-index {face_index} is out of range: found "
                                f"{len(faces)} face(s), numbered 0–{len(faces) - 1} "
                                "from the largest.")
            faces = [faces[face_index]]
        usable = [f for f in faces if f.size >= self.min_face_size]
        if not usable:
            raise EditError(f"face at box {faces[0].box} is {faces[0].size} px; the minimum is "
                            f"{self.min_face_size} px (smaller faces are mostly upsampling "
                            "blur at the model's resolution).")
        if len(usable) < len(faces):
            logger.warning("skipping %d face(s) smaller than %d px", len(faces) - len(usable),
                           self.min_face_size)
        return usable

    def align(self, image: np.ndarray, faces: Sequence[Face]
              ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """Crops each face with the training convention.

        Returns:
            crops (N, S, S, 3) uint8, the (2, 3) photo → crop matrices, and the
            (S, S) float32 paste-back masks.
        """
        size = self.image_size
        matrices = [alignment_matrix(face.landmarks5, size, self.padding) for face in faces]
        crops = np.stack([crop_face(image, m, size) for m in matrices])
        masks = [face_mask(size, None if face.landmarks68 is None
                           else transform_points(face.landmarks68, m), self.padding)
                 for face, m in zip(faces, matrices)]
        return crops, matrices, masks

    def estimate_aus(self, crops: np.ndarray) -> np.ndarray:
        """Source expression of (N, S, S, 3) uint8 crops from the critic's AU head: (N, 17)."""
        return self.backend.estimate_aus(images_to_model(crops))

    def target_aus(self, source_aus: np.ndarray, expression: str | None = None,
                   aus: str | None = None, intensity: float = 1.0,
                   keep_others: bool = False) -> np.ndarray:
        """The target expression for faces whose source expression is known.

        Args:
            source_aus: (N, 17) in [0, 1].
            expression: a preset name ("happy"); exclusive with `aus`.
            aus: "AU12=0.9,AU06=0.6"; unnamed AUs are 0 unless `keep_others`.
            intensity: fraction of the change applied, source + intensity · (target −
                source), clipped to [0, 1]; > 1 exaggerates.
            keep_others: only the named AUs (or the preset's non-zero AUs) change;
                the others keep the source's values.

        Returns:
            (N, 17) float32 in [0, 1].
        """
        if (expression is None) == (aus is None):
            raise EditError("give exactly one target: an expression name or an AU spec.")
        if not np.isfinite(intensity) or intensity < 0:
            raise EditError(f"intensity must be a number ≥ 0; received {intensity}.")
        source_aus = np.asarray(source_aus, np.float32)
        if expression is not None:
            target = get_expression(expression, self.presets)
            named = target > 0
        else:
            target = parse_aus(aus)
            named = np.zeros(len(AU_CODES), bool)
            for item in filter(None, (part.strip() for part in aus.split(","))):
                named[au_index(item.split("=")[0])] = True
        if keep_others:
            target = np.where(named, target, source_aus)
        change = np.broadcast_to(target, source_aus.shape) - source_aus
        return np.clip(source_aus + intensity * change, 0.0, 1.0).astype(np.float32)

    def run(self, crops: np.ndarray, source_aus: np.ndarray,
            target_aus: np.ndarray) -> dict[str, np.ndarray]:
        """The model on (N, S, S, 3) uint8 crops; returns its float32 maps by name."""
        return self.backend.edit(images_to_model(crops), source_aus, target_aus)

    def compose(self, image: np.ndarray, edits: Sequence[FaceEdit]) -> np.ndarray:
        """Pastes every edited crop back into a copy of the photo."""
        result = image
        for edit in edits:
            result = paste_back(result, edit.edited_crop, edit.matrix, edit.mask,
                                color_match=self.color_match)
        return result if edits else image.copy()

    # ------------------------------------------------------------------ API

    def edit(self, image: np.ndarray, expression: str | None = None, aus: str | None = None,
             *, intensity: float = 1.0, keep_others: bool = False,
             source_aus: np.ndarray | None = None, face_index: int | None = None,
             faces: Sequence[Face] | None = None, return_maps: bool = False) -> EditResult:
        """Edits the faces of a photo toward a target expression.

        Args:
            image: (H, W, 3) uint8 RGB photo.
            expression, aus, intensity, keep_others: the target, see `target_aus`.
            source_aus: (17,) or (N, 17) source expression; default estimated per face.
            face_index: edit only this face (0 = largest); default all.
            faces: skip detection and use these faces (e.g. smoothed video tracks).
            return_maps: keep each face's model maps in `FaceEdit.maps`.

        Returns:
            An `EditResult` whose image has the input's size.
        """
        faces = list(faces) if faces is not None else self.find_faces(image, face_index)
        crops, matrices, masks = self.align(image, faces)
        source = self._source(crops, source_aus)
        target = self.target_aus(source, expression, aus, intensity, keep_others)
        maps = self.run(crops, source, target)
        edited = images_from_model(maps["edited"])
        edits = [
            FaceEdit(face, m, crop, out, mask, src, tgt,
                     {k: v[i] for k, v in maps.items()} if return_maps else {})
            for i, (face, m, crop, out, mask, src, tgt)
            in enumerate(zip(faces, matrices, crops, edited, masks, source, target))
        ]
        return EditResult(self.compose(image, edits), edits)

    def _source(self, crops: np.ndarray, source_aus: np.ndarray | None) -> np.ndarray:
        if source_aus is None:
            return self.estimate_aus(crops)
        source = np.asarray(source_aus, np.float32)
        if source.ndim == 1:
            source = np.broadcast_to(source, (len(crops), len(AU_CODES)))
        if source.shape != (len(crops), len(AU_CODES)):
            raise EditError(f"source AUs for {len(crops)} face(s) must have shape "
                            f"({len(crops)}, {len(AU_CODES)}); received {source.shape}.")
        return np.array(source)

    def sweep(self, image: np.ndarray, au: str, steps: int = 8, face_index: int = 0,
              source_aus: np.ndarray | None = None) -> np.ndarray:
        """One AU from 0 to 1, the others at the source's values (paper Fig. 6).

        Returns:
            (H, W, 3) uint8 grid: a row of deformed crops and a row of final crops, one
            column per AU value.
        """
        if steps < 2:
            raise EditError(f"--steps must be at least 2; received {steps}.")
        index = au_index(au)
        face = self.find_faces(image, face_index)
        crops, _, _ = self.align(image, face)
        source = self._source(crops, source_aus)
        values = np.linspace(0.0, 1.0, steps, dtype=np.float32)
        target = np.repeat(source, steps, axis=0)
        target[:, index] = values
        maps = self.run(np.repeat(crops, steps, axis=0), np.repeat(source, steps, axis=0),
                        target)
        rows = [list(images_from_model(maps["edited"]))]
        labels = ["final"]
        if "deformed" in maps:
            rows.insert(0, list(images_from_model(maps["deformed"])))
            labels.insert(0, "deformed")
        return visualize.labelled_grid(
            rows, [f"{AU_CODES[index]}={v:.2f}" for v in values], labels)

    def all_expressions(self, image: np.ndarray, face_index: int = 0,
                        source_aus: np.ndarray | None = None) -> np.ndarray:
        """The input face and its edit to every preset in one row (paper Fig. 4).

        Returns:
            (H, W, 3) uint8 labelled row of crops.
        """
        names = sorted(self.presets if self.presets is not None else PRESETS)
        face = self.find_faces(image, face_index)
        crops, _, _ = self.align(image, face)
        source = self._source(crops, source_aus)
        target = np.concatenate([self.target_aus(source, expression=n) for n in names])
        maps = self.run(np.repeat(crops, len(names), axis=0),
                        np.repeat(source, len(names), axis=0), target)
        row = [crops[0], *images_from_model(maps["edited"])]
        return visualize.labelled_grid([row], ["input", *names])

    def animate(self, image: np.ndarray, keyframes: Sequence[str], frames_per_step: int = 15,
                face_index: int | None = None,
                source_aus: np.ndarray | None = None) -> list[np.ndarray]:
        """Full-photo frames moving through expressions by linear interpolation in AU space.

        Args:
            image: (H, W, 3) uint8 RGB photo.
            keyframes: expression names, e.g. ["neutral", "happy", "surprise"]; "source"
                means the face's own expression.
            frames_per_step: frames from one keyframe to the next.
            face_index, source_aus: as in `edit`.

        Returns:
            (H, W, 3) uint8 frames, (len(keyframes) − 1) · frames_per_step + 1 of them.
        """
        if len(keyframes) < 2:
            raise EditError(f"--animate needs at least two expressions; received {keyframes}.")
        faces = self.find_faces(image, face_index)
        crops, matrices, masks = self.align(image, faces)
        source = self._source(crops, source_aus)
        keys = [source if k == "source" else self.target_aus(source, expression=k)
                for k in keyframes]
        frames = []
        for start, end in itertools.pairwise(keys):
            for t in np.arange(frames_per_step) / frames_per_step:
                frames.append(self._frame(image, faces, crops, matrices, masks, source,
                                          start + t * (end - start)))
        frames.append(self._frame(image, faces, crops, matrices, masks, source, keys[-1]))
        return frames

    def edit_frames(self, frames: Iterable[np.ndarray], expression: str | None = None,
                    aus: str | None = None, *, intensity: float = 1.0,
                    keep_others: bool = False, source_aus: np.ndarray | None = None,
                    face_index: int = 0, smoothing: float = 0.6) -> Iterator[np.ndarray]:
        """Edits one face through a video, with its landmarks smoothed over time.

        The face is picked in the first frame where one is found (`face_index`, 0 =
        largest) and then followed (the detection nearest to it). Its box and
        landmarks are an exponential moving average, `l_t = smoothing · l_(t−1) +
        (1 − smoothing) · detected_t`, so the crop, and therefore the edit, does not
        jitter; the source expression is estimated once, on the first tracked frame.
        Frames without the face pass through unchanged (or use the last track); a video
        in which no frame shows a face is an error, raised after its last frame.

        Args:
            frames: (H, W, 3) uint8 RGB frames.
            expression, aus, intensity, keep_others, source_aus: as in `edit`.
            face_index: which face to follow (0 = largest, −1 = smallest), picked in the
                first frame that shows that many faces.
            smoothing: weight of the past in [0, 1); 0 disables smoothing.

        Yields:
            Edited (H, W, 3) uint8 frames, one per input frame.

        Raises:
            EditError: no frame showed a face, or none showed enough faces for
                `face_index` (after the last frame).
        """
        if not 0 <= smoothing < 1:
            raise EditError(f"smoothing must be in [0, 1); received {smoothing}.")
        track: Face | None = None
        most_faces = 0
        source = None if source_aus is None else np.asarray(source_aus, np.float32)
        for frame in frames:
            found = [f for f in detect_faces(frame, self.detector)
                     if f.size >= self.min_face_size]
            most_faces = max(most_faces, len(found))
            if track is None and -len(found) <= face_index < len(found):
                track = found[face_index]
            elif track is not None and found:
                nearest = min(found, key=lambda f: np.linalg.norm(
                    f.landmarks5.mean(0) - track.landmarks5.mean(0)))
                track = _smoothed(track, nearest, smoothing)
            if track is None:
                yield frame.copy()
                continue
            if source is None:
                source = self.estimate_aus(self.align(frame, [track])[0])[0]
            yield self.edit(frame, expression, aus, intensity=intensity, keep_others=keep_others,
                            source_aus=source, faces=[track]).image
        if track is None and most_faces:
            raise EditError(f"--face-index {face_index} is out of range: no frame showed more "
                            f"than {most_faces} face(s), numbered 0–{most_faces - 1} from the "
                            "largest; nothing was edited.")
        if track is None:
            raise EditError("no face found in any frame; nothing was edited.")

    def _frame(self, image, faces, crops, matrices, masks, source, target) -> np.ndarray:
        edited = images_from_model(self.run(crops, source, target.astype(np.float32))["edited"])
        edits = [FaceEdit(f, m, c, e, k, s, t)
                 for f, m, c, e, k, s, t in zip(faces, matrices, crops, edited, masks, source,
                                                target)]
        return self.compose(image, edits)


def _smoothed(previous: Face, current: Face, weight: float) -> Face:
    """Exponential moving average of a face's box and landmarks (weight on the past)."""

    def mix(old, new):
        return None if old is None or new is None else weight * old + (1 - weight) * new

    box = mix(np.array(previous.box, float), np.array(current.box, float))
    return Face(tuple(int(v) for v in np.rint(box)), current.score,
                mix(previous.landmarks5, current.landmarks5),
                mix(previous.landmarks68, current.landmarks68), current.detector)
