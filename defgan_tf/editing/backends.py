"""Run a trained DefGAN from a run directory, a SavedModel or a .tflite file, behind one API.

Every backend takes and returns NumPy: images (B, S, S, 3) float32 in [-1, 1] and
AU vectors (B, 17) float32 in [0, 1] in `defgan_tf.aus.AU_CODES` order, and `edit`
returns the model's maps by name (`edited`, `deformed`, `grid`, `color`, `mask`;
a backend returns those its model exports, at least `edited`).

Formats read:
- run directory (`config.yaml` + `checkpoints/`): `defgan_tf.models.load_run`.
- SavedModel directory (`saved_model.pb`): signatures `edit(image, source_aus,
  target_aus)` returning the maps above, and `estimate_aus(image)` returning `aus`;
  its `defgan_export.json`, when present, says which weights it holds (`"weights"`).
- `.tflite` file with a sidecar `<file>.json`: `{"au_codes": [...], "image_size": S}`.
  When the model has signatures `edit` (and `estimate_aus`), as a conversion from
  the SavedModel above gives, they are run by their argument and output names.
  Otherwise the sidecar names the graph's tensors: `"inputs": {"image": NAME,
  "source_aus": NAME, "target_aus": NAME}, "outputs": {"edited": NAME, ...}`, and
  optionally `"estimate_aus": {"file": "other.tflite", "inputs": {"image": NAME},
  "outputs": {"aus": NAME}}` for the critic's AU head. `inputs`/`outputs` may also
  rename a signature's keys.
"""

from __future__ import annotations

import abc
import json
import pathlib

import numpy as np

from defgan_tf.aus import AU_CODES, NUM_AUS

MAP_NAMES = ("edited", "deformed", "grid", "color", "mask")
SAVED_MODEL_METADATA = "defgan_export.json"
"""File name of the metadata inside an exported SavedModel directory (`export.metadata`)."""


def images_to_model(images: np.ndarray) -> np.ndarray:
    """uint8 RGB in [0, 255] → float32 in [-1, 1], the models' image range."""
    return np.asarray(images, np.float32) / 127.5 - 1.0


def images_from_model(images: np.ndarray) -> np.ndarray:
    """float in [-1, 1] → uint8 RGB (rounded, clipped)."""
    return np.clip(np.rint((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


class BackendError(ValueError):
    """A model path that cannot be loaded, or a model that does not match its metadata."""


class Backend(abc.ABC):
    """A loaded model that edits aligned face crops.

    Attributes:
        name: "keras", "saved_model" or "tflite".
        image_size: side S of the square crops the model edits.
        weights: which generator weights edit: "ema" (the run's moving average) or "raw";
            an export's sidecar says which it holds ("as exported" when it does not).
    """

    name: str
    image_size: int
    weights: str = "as exported"

    @abc.abstractmethod
    def edit(self, image: np.ndarray, source_aus: np.ndarray,
             target_aus: np.ndarray) -> dict[str, np.ndarray]:
        """Edits crops from source to target AUs.

        Args:
            image: (B, S, S, 3) float32 in [-1, 1].
            source_aus, target_aus: (B, 17) float32 in [0, 1].

        Returns:
            Maps by name as NumPy float32: `edited` (B, S, S, 3) always; `deformed`,
            `grid` (B, S, S, 2), `color`, `mask` (B, S, S, 1) when the model exports them.
        """

    @abc.abstractmethod
    def estimate_aus(self, image: np.ndarray) -> np.ndarray:
        """AU intensities of crops from the critic's AU head: (B, S, S, 3) → (B, 17)."""

    @property
    def has_au_estimator(self) -> bool:
        """Whether `estimate_aus` works (a .tflite export may leave the AU head out)."""
        return True

    def _check_image(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image, np.float32)
        expected = (self.image_size, self.image_size, 3)
        if image.ndim != 4 or image.shape[1:] != expected:
            raise BackendError(
                f"The {self.name} model edits (B, {self.image_size}, {self.image_size}, 3) "
                f"crops; received shape {image.shape}."
            )
        return image


class KerasBackend(Backend):
    """A DefGAN Keras model in this process (a run directory's newest checkpoint).

    Args:
        model: a DefGAN (or any callable with its `call` and `estimate_aus` signature).
        image_size: side of the crops the model was built for.
        weights: which generator weights the model holds, "raw" or "ema" (reported by
            the evaluation; `from_run` sets it).
    """

    name = "keras"

    def __init__(self, model, image_size: int, weights: str = "raw"):
        import tensorflow as tf

        self.model, self.image_size, self.weights = model, int(image_size), weights
        self._edit = tf.function(
            lambda image, source, target: model(image, source, target, training=False),
            reduce_retracing=True)
        self._estimate = tf.function(model.estimate_aus, reduce_retracing=True)
        self._texture = tf.function(model.texture, reduce_retracing=True)

    @classmethod
    def from_run(cls, run_dir: str | pathlib.Path, use_ema: bool = True) -> KerasBackend:
        """Loads a run directory written by `python -m defgan_tf.train`.

        Raises:
            BackendError: no config/checkpoint, or a checkpoint that does not fit the
                model its config describes (e.g. trained at another image size).
        """
        from defgan_tf.config import ConfigError
        from defgan_tf.models import load_run

        try:
            config, model = load_run(run_dir, use_ema=use_ema)
        except ConfigError as error:
            raise BackendError(str(error)) from None
        return cls(model, config.model.image_size, weights=model.held_weights)

    def edit(self, image, source_aus, target_aus):
        out = self._edit(self._check_image(image), np.asarray(source_aus, np.float32),
                         np.asarray(target_aus, np.float32))
        return {name: np.asarray(value) for name, value in out.items()}

    def estimate_aus(self, image):
        return np.asarray(self._estimate(self._check_image(image)))

    def texture(self, deformed: np.ndarray, source_aus: np.ndarray,
                target_aus: np.ndarray) -> dict[str, np.ndarray]:
        """The texture branch alone on an already deformed image (`DefGAN.texture`).

        Only a run directory has it: the exported models hold the whole edit. The
        evaluation paints the true warp with it (`metrics.warp_parts`).
        """
        out = self._texture(self._check_image(deformed), np.asarray(source_aus, np.float32),
                            np.asarray(target_aus, np.float32))
        return {name: np.asarray(value) for name, value in out.items()}


class SavedModelBackend(Backend):
    """A SavedModel directory with `edit` and `estimate_aus` signatures (see module doc)."""

    name = "saved_model"

    def __init__(self, directory: str | pathlib.Path):
        import tensorflow as tf

        self.directory = pathlib.Path(directory)
        try:
            self._loaded = tf.saved_model.load(str(self.directory))
        except (OSError, ValueError, tf.errors.OpError) as error:
            raise BackendError(f"{directory}: not a loadable SavedModel ({error}).") from None
        missing = [s for s in ("edit", "estimate_aus") if s not in self._loaded.signatures]
        if missing:
            raise BackendError(
                f"{directory}: the SavedModel lacks the signature(s) {', '.join(missing)}; "
                f"it has {', '.join(self._loaded.signatures) or 'none'}. Export it with "
                "defgan-export."
            )
        self._edit = self._loaded.signatures["edit"]
        self._estimate = self._loaded.signatures["estimate_aus"]
        arguments = self._edit.structured_input_signature[1]
        expected = {"image", "source_aus", "target_aus"}
        if set(arguments) != expected:
            raise BackendError(
                f"{directory}: the edit signature takes {', '.join(sorted(arguments))}; the "
                f"editor passes {', '.join(sorted(expected))}. Re-export with defgan-export."
            )
        shape = arguments["image"].shape
        if shape[1] is None or shape[1] != shape[2]:
            raise BackendError(f"{directory}: the edit signature's image shape {shape} is not "
                               "a fixed square size.")
        self.image_size = int(shape[1])
        metadata = self.directory / SAVED_MODEL_METADATA
        if metadata.is_file():
            self.weights = _read_json_object(metadata).get("weights", Backend.weights)

    def edit(self, image, source_aus, target_aus):
        out = self._edit(image=self._check_image(image),
                         source_aus=np.asarray(source_aus, np.float32),
                         target_aus=np.asarray(target_aus, np.float32))
        return {name: np.asarray(value) for name, value in out.items()}

    def estimate_aus(self, image):
        out = self._estimate(image=self._check_image(image))
        if "aus" not in out:
            raise BackendError(f"{self.directory}: the estimate_aus signature returns "
                               f"{', '.join(out)}, not 'aus'. Re-export with defgan-export.")
        return np.asarray(out["aus"])


def _read_json_object(path: pathlib.Path) -> dict:
    """An export's metadata file, which must hold one JSON object."""
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BackendError(f"{path}: not valid JSON ({error}); re-export the model.") from None
    if not isinstance(meta, dict):
        raise BackendError(f"{path}: expected a JSON object, found {type(meta).__name__}; "
                           "re-export the model.")
    return meta


def _interpreter(path: pathlib.Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise BackendError("running a .tflite model needs LiteRT: pip install "
                           "'defgan-tf[litert]' (the ai-edge-litert package).") from None
    if not path.is_file():
        raise BackendError(f"{path}: no such .tflite file.")
    try:
        return Interpreter(model_path=str(path))
    except ValueError as error:
        raise BackendError(f"{path}: not a loadable .tflite model ({error}).") from None


class _TFLiteGraph:
    """One signature of a LiteRT model (or its only graph), with inputs/outputs by role.

    Args:
        interpreter: a LiteRT `Interpreter`.
        path: the file, for messages.
        signature: the signature to run; None runs the primary graph by tensor names.
        inputs, outputs: role → signature key or tensor name; None = the signature's
            own keys.
    """

    def __init__(self, interpreter, path: pathlib.Path, signature: str | None,
                 inputs: dict[str, str] | None, outputs: dict[str, str] | None):
        self.interpreter, self.path = interpreter, path
        self.runner = None if signature is None else interpreter.get_signature_runner(signature)
        if self.runner is None:
            if inputs is None or outputs is None:
                raise BackendError(f"{path} has no 'edit' signature and its sidecar names no "
                                   "input/output tensors; re-export the model.")
            interpreter.allocate_tensors()
            input_details = {d["name"]: d for d in interpreter.get_input_details()}
            output_details = {d["name"]: d for d in interpreter.get_output_details()}
        else:
            input_details = self.runner.get_input_details()
            output_details = self.runner.get_output_details()
        self.inputs = self._resolve(inputs, input_details)
        self.outputs = self._resolve(outputs, output_details)

    def _resolve(self, roles: dict[str, str] | None, details: dict[str, dict]
                 ) -> dict[str, tuple[str, dict]]:
        """role → (key, details); a role may name a signature key or a tensor name."""
        by_tensor = {d["name"]: (key, d) for key, d in details.items()}
        roles = roles if roles is not None else {key: key for key in details}
        resolved = {role: (name, details[name]) if name in details else by_tensor.get(name)
                    for role, name in roles.items()}
        unknown = {role: roles[role] for role, found in resolved.items() if found is None}
        if unknown:
            raise BackendError(f"{self.path}.json names inputs/outputs the model does not "
                               f"have: {unknown}; the model has {sorted(details)}.")
        return resolved

    def input_shape(self, role: str) -> tuple[int, ...]:
        return tuple(int(n) for n in self.inputs[role][1]["shape"])

    def run_one(self, **arrays: np.ndarray) -> dict[str, np.ndarray]:
        """Runs one example (batch 1) and returns the outputs by role."""
        if self.runner is not None:
            out = self.runner(**{self.inputs[role][0]: value[None]
                                 for role, value in arrays.items()})
            return {role: out[key][0] for role, (key, _) in self.outputs.items()}
        for role, value in arrays.items():
            self.interpreter.set_tensor(self.inputs[role][1]["index"], value[None])
        self.interpreter.invoke()
        return {role: self.interpreter.get_tensor(d["index"])[0]
                for role, (_, d) in self.outputs.items()}

    def run(self, **arrays: np.ndarray) -> dict[str, np.ndarray]:
        """Runs a batch one example at a time (exported graphs have batch 1)."""
        count = len(next(iter(arrays.values())))
        rows = [self.run_one(**{k: v[i] for k, v in arrays.items()}) for i in range(count)]
        return {role: np.stack([row[role] for row in rows]) for role in self.outputs}


def _graph(path: pathlib.Path, signature: str, entry: dict) -> _TFLiteGraph:
    """The named signature of a .tflite when it has one, else its graph by tensor names."""
    interpreter = _interpreter(path)
    has_signature = signature in interpreter.get_signature_list()
    return _TFLiteGraph(interpreter, path, signature if has_signature else None,
                        entry.get("inputs"), entry.get("outputs"))


class TFLiteBackend(Backend):
    """A .tflite model (LiteRT interpreter) described by its sidecar JSON (see module doc)."""

    name = "tflite"

    def __init__(self, path: str | pathlib.Path):
        path = pathlib.Path(path)
        sidecar = path.with_name(path.name + ".json")
        if not sidecar.is_file():
            raise BackendError(f"{path}: the sidecar {sidecar.name} (AU order, image size, "
                               "tensor names) is missing; re-export the model.")
        meta = _read_json_object(sidecar)
        codes = meta.get("au_codes", [])
        if not isinstance(codes, list) or sorted(map(str, codes)) != sorted(AU_CODES):
            raise BackendError(f"{sidecar}: au_codes must list the {NUM_AUS} AUs "
                               f"{', '.join(AU_CODES)}; received {codes}.")
        self._order = [AU_CODES.index(code) for code in codes]
        size = meta.get("image_size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise BackendError(f"{sidecar}: image_size must be a positive whole number; "
                               f"received {size!r}. Re-export the model.")
        self.image_size = size
        self.weights = meta.get("weights", Backend.weights)
        self._graph = _graph(path, "edit", meta)
        actual = self._graph.input_shape("image")[1:3]
        if actual != (self.image_size, self.image_size):
            raise BackendError(
                f"{path}: the model's image input is {actual[0]}×{actual[1]} but {sidecar.name} "
                f"says image_size={self.image_size}; re-export the model."
            )
        extra = meta.get("estimate_aus")
        self._estimator = None
        if "estimate_aus" in self._graph.interpreter.get_signature_list():
            self._estimator = _TFLiteGraph(self._graph.interpreter, path, "estimate_aus",
                                           None if extra is None else extra.get("inputs"),
                                           None if extra is None else extra.get("outputs"))
        elif extra is not None:
            self._estimator = _graph(path.with_name(extra["file"]), "estimate_aus", extra)

    def edit(self, image, source_aus, target_aus):
        source = np.asarray(source_aus, np.float32)[:, self._order]
        target = np.asarray(target_aus, np.float32)[:, self._order]
        return self._graph.run(image=self._check_image(image), source_aus=source,
                               target_aus=target)

    @property
    def has_au_estimator(self) -> bool:
        return self._estimator is not None

    def estimate_aus(self, image):
        if self._estimator is None:
            raise BackendError("This .tflite export holds no AU estimator (no 'estimate_aus' "
                               "signature or sidecar entry); give the source expression with "
                               "--source-aus or --openface-csv.")
        aus = self._estimator.run(image=self._check_image(image))["aus"]
        result = np.empty_like(aus)
        result[:, self._order] = aus
        return result


def load_backend(path: str | pathlib.Path, use_ema: bool = True) -> Backend:
    """Opens a model by what the path holds: run directory, SavedModel or .tflite file.

    Args:
        path: the model.
        use_ema: for a run directory, its generators' moving-average weights when the
            run kept them (an export has already chosen, see `export.use_ema`).

    Raises:
        BackendError: the path is none of the three (the message says what each needs), or
            `use_ema=False` asks an export for weights it no longer has.
    """
    path = pathlib.Path(path)
    if path.is_file() and path.suffix == ".tflite":
        export = TFLiteBackend
    elif path.is_dir() and (path / "saved_model.pb").is_file():
        export = SavedModelBackend
    elif path.is_dir() and (path / "config.yaml").is_file():
        return KerasBackend.from_run(path, use_ema=use_ema)
    else:
        raise BackendError(
            f"{str(path)!r} is not a model: expected a training run directory (with "
            "config.yaml and checkpoints/), a SavedModel directory (with saved_model.pb) or "
            "a .tflite file (with its .tflite.json sidecar).")
    if not use_ema:
        # Silently editing with the exported weights would answer a different question.
        raise BackendError(
            f"{path}: an exported model holds only the weights it was exported with (its "
            "metadata's \"weights\" says which). Drop --no-ema to edit with them; for the "
            "raw weights pass the training run directory, or export with --no-ema.")
    return export(path)
