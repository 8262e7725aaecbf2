"""SavedModel export with serving signatures `edit`, `estimate_aus` and `edit_to` (+ uint8 twins).

The model is exported the way Keras 3 intends (`keras.export.ExportArchive`: the
archive tracks the model's variables itself). Wrapping a Keras 3 model in a hand-made
`tf.Module` can leave unresolved variable handles whose TFLite conversion outputs
garbage; the tests load every export in a fresh process and compare with Keras.

    python -m export.saved_model --run RUN_DIR --out DIR
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import keras
import tensorflow as tf

from defgan_tf.aus import NUM_AUS
from defgan_tf.config import Config, ConfigError, load_config
from defgan_tf.editing.backends import SAVED_MODEL_METADATA
from defgan_tf.models import DefGAN, load_run
from defgan_tf.models.build import CONFIG_FILE
from export.metadata import build_metadata, write_metadata

EDIT_OUTPUTS = ("edited", "deformed", "mask", "grid")
"""The maps the `edit` signatures return (see DefGAN.call for shapes and ranges)."""
_IMAGE_MAPS = ("edited", "deformed")


class ExportError(ValueError):
    """A run that cannot be exported, or an export that would not run where it is meant to."""


def load_for_export(run_dir: str | Path, use_ema: bool | None = None) -> tuple[Config, DefGAN]:
    """Loads a run's newest checkpoint, ready to export.

    Args:
        run_dir: a directory written by `python -m defgan_tf.train`.
        use_ema: export the generators' moving averages; None = the run's `export.use_ema`
            (a run trained without EMA exports its plain weights either way).

    Raises:
        ExportError: not a run directory, or no checkpoint yet.
    """
    config_file = Path(run_dir) / CONFIG_FILE
    try:
        if use_ema is None:
            use_ema = not config_file.is_file() or load_config(config_file).export.use_ema
        config, model = load_run(run_dir, use_ema=use_ema)
    except (ConfigError, FileNotFoundError) as error:
        raise ExportError(str(error)) from None
    size = config.model.image_size
    # Keras refuses to track a model it has never called; one call on zeros marks it built.
    model(tf.zeros((1, size, size, 3)), tf.zeros((1, NUM_AUS)), tf.zeros((1, NUM_AUS)))
    return config, model


def _to_model_range(image_uint8: tf.Tensor) -> tf.Tensor:
    return tf.cast(image_uint8, tf.float32) / 127.5 - 1.0


def _to_uint8(image: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.clip_by_value(tf.round((image + 1.0) * 127.5), 0.0, 255.0), tf.uint8)


def _edit_fn(model: DefGAN) -> Callable[..., dict[str, tf.Tensor]]:
    def edit(image, source_aus, target_aus):
        out = model(image, source_aus, target_aus, training=False)
        return {name: out[name] for name in EDIT_OUTPUTS}
    return edit


def _as_uint8(fn: Callable[..., dict[str, tf.Tensor]]) -> Callable[..., dict[str, tf.Tensor]]:
    """The same endpoint taking a uint8 image in [0, 255] and returning uint8 images."""
    def wrapped(image, *args):
        out = fn(_to_model_range(image), *args)
        return {name: _to_uint8(value) if name in _IMAGE_MAPS else value
                for name, value in out.items()}
    return wrapped


def build_archive(model: DefGAN, image_size: int, *, batch_size: int | None = None,
                  uint8: bool = True, edit_to: bool = True) -> keras.export.ExportArchive:
    """An ExportArchive with DefGAN's serving endpoints.

    Args:
        model: a built DefGAN (see `load_for_export`).
        image_size: side S of the faces; fixed in every signature.
        batch_size: fixed batch, or None for a dynamic one (serving). TFLite for the
            browser needs a fixed batch of 1.
        uint8: also add `edit_uint8`, `estimate_aus_uint8` (and `edit_to_uint8`).
        edit_to: add `edit_to(image, target_aus)`, whose source AUs come from the critic.

    Returns:
        The archive; endpoints (float32 image (B, S, S, 3) in [-1, 1], AUs (B, 17) in [0, 1]):
        `edit(image, source_aus, target_aus)` → edited, deformed (B, S, S, 3), mask
        (B, S, S, 1), grid (B, S, S, 2); `estimate_aus(image)` → aus (B, 17);
        `edit_to(image, target_aus)` → the edit maps and the estimated `source_aus`.
    """
    edit = _edit_fn(model)

    def estimate_aus(image):
        return {"aus": model.estimate_aus(image)}

    def edit_to_fn(image, target_aus):
        source_aus = model.estimate_aus(image)
        return {**edit(image, source_aus, target_aus), "source_aus": source_aus}

    def image_spec(dtype):
        return tf.TensorSpec((batch_size, image_size, image_size, 3), dtype, name="image")

    def aus_spec(name):
        return tf.TensorSpec((batch_size, NUM_AUS), tf.float32, name=name)

    endpoints = [("edit", edit, [aus_spec("source_aus"), aus_spec("target_aus")]),
                 ("estimate_aus", estimate_aus, [])]
    if edit_to:
        endpoints.append(("edit_to", edit_to_fn, [aus_spec("target_aus")]))
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, fn, aus_specs in endpoints:
        archive.add_endpoint(name, fn, [image_spec(tf.float32), *aus_specs])
    if uint8:
        for name, fn, aus_specs in endpoints:
            archive.add_endpoint(f"{name}_uint8", _as_uint8(fn), [image_spec(tf.uint8), *aus_specs])
    return archive


def signature_keys(*, uint8: bool = True, edit_to: bool = True
                   ) -> dict[str, dict[str, dict[str, str]]]:
    """Signature name → {"inputs": {key: key}, "outputs": {key: key}} of `build_archive`."""
    table = {"edit": (("image", "source_aus", "target_aus"), EDIT_OUTPUTS),
             "estimate_aus": (("image",), ("aus",))}
    if edit_to:
        table["edit_to"] = (("image", "target_aus"), (*EDIT_OUTPUTS, "source_aus"))
    if uint8:
        table.update({f"{name}_uint8": keys for name, keys in table.items()})
    return {name: {"inputs": {k: k for k in inputs}, "outputs": {k: k for k in outputs}}
            for name, (inputs, outputs) in table.items()}


def check_saved_model_out(out_dir: str | Path) -> Path:
    """Refuses an output folder a SavedModel cannot be written to, before the slow part.

    A file there would only fail after loading and tracing (TensorFlow's
    FailedPreconditionError), and a folder of other files would get the export mixed in
    among them. A new or empty folder, or an earlier export (it holds
    `defgan_export.json`), is fine: `write_saved_model` replaces the latter whole.

    Raises:
        ExportError: `out_dir` is a file, or a non-empty folder that is not an export.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"--out {out_dir} is a file; a SavedModel is a folder. Choose a new "
                          "or empty folder, or an earlier export to replace.")
    if (out_dir.is_dir() and any(out_dir.iterdir())
            and not (out_dir / SAVED_MODEL_METADATA).is_file()):
        raise ExportError(f"--out {out_dir} holds other files and is not an earlier export "
                          f"(no {SAVED_MODEL_METADATA}). Choose a new or empty folder.")
    return out_dir


@contextlib.contextmanager
def _staged_folder(out_dir: Path) -> Iterator[Path]:
    """Yields a hidden sibling of `out_dir` to write into; swaps it in once complete.

    A SavedModel is several files (saved_model.pb, variables/, assets/, the metadata):
    written straight into `out_dir`, an export interrupted while replacing an earlier
    one would leave a mix of the two that loads, wrongly. Until the swap (two renames in
    one folder) `out_dir` keeps the earlier export; on an exception (Ctrl-C included) the
    hidden folder is removed. Only a crash between the two renames could leave the
    earlier export aside, under its hidden `.NAME.replaced-*` name.
    """
    out_dir = out_dir.resolve()  # `--out .` has no name to put beside it
    tag = uuid.uuid4().hex[:8]
    staging = out_dir.parent / f".{out_dir.name}.partial-{tag}"
    replaced = out_dir.parent / f".{out_dir.name}.replaced-{tag}"
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield staging
        if out_dir.exists():
            out_dir.rename(replaced)
        staging.rename(out_dir)
        shutil.rmtree(replaced, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_saved_model(model: DefGAN, config: Config, out_dir: str | Path, *,
                      batch_size: int | None = None, uint8: bool = True,
                      edit_to: bool = True) -> Path:
    """Writes the SavedModel and its metadata (`defgan_export.json` inside the directory).

    Args:
        model, config: from `load_for_export`.
        out_dir: the SavedModel directory to write: new, empty, or an earlier export,
            which is replaced whole once the new one is complete (`check_saved_model_out`).
        batch_size, uint8, edit_to: see `build_archive`.

    Returns:
        `out_dir` as a Path.

    Raises:
        ExportError: `out_dir` is a file or a folder of other files.
    """
    out_dir = check_saved_model_out(out_dir)
    archive = build_archive(model, config.model.image_size, batch_size=batch_size, uint8=uint8,
                            edit_to=edit_to)
    signatures = signature_keys(uint8=uint8, edit_to=edit_to)
    with _staged_folder(out_dir) as staging:
        archive.write_out(str(staging), verbose=False)
        write_metadata(staging / SAVED_MODEL_METADATA,
                       build_metadata(config, fmt="saved_model", weights=model.held_weights,
                                      signatures=signatures))
    return out_dir


def export_run(run_dir: str | Path, out_dir: str | Path, use_ema: bool | None = None) -> Path:
    """`load_for_export` + `write_saved_model` with the serving defaults (dynamic batch).

    `out_dir` is checked first: a bad one fails in a moment, not after the load and trace.
    """
    check_saved_model_out(out_dir)
    config, model = load_for_export(run_dir, use_ema)
    return write_saved_model(model, config, out_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m export.saved_model",
        description="Export a trained DefGAN as a SavedModel with edit / estimate_aus / "
                    "edit_to signatures (float32 and uint8 images, dynamic batch).")
    parser.add_argument("--run", required=True, help="training run directory")
    parser.add_argument("--out", required=True, help="SavedModel directory to write")
    parser.add_argument("--no-ema", action="store_true",
                        help="export the raw generator weights instead of their EMA")
    args = parser.parse_args(argv)
    try:
        out = export_run(args.run, args.out, use_ema=False if args.no_ema else None)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out} (signatures: edit, estimate_aus, edit_to and their _uint8 twins; "
          f"inspect with `saved_model_cli show --dir {out} --all`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
