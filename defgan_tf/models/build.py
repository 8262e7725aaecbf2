"""Builds DefGAN from a config, and loads a trained one from a run directory."""

from __future__ import annotations

import copy
import dataclasses
import glob
import os
from pathlib import Path

import tensorflow as tf

from defgan_tf.config import Config, ConfigError, load_config, save_config
from defgan_tf.models.checkpoint_files import (
    DATA_READ_ERRORS,
    checkpoint_model_paths,
    corrupt_checkpoint_error,
    data_files,
    first_line,
)
from defgan_tf.models.critic import Critic
from defgan_tf.models.defgan import DefGAN
from defgan_tf.models.deformation_generator import DeformationGenerator
from defgan_tf.models.texture_generator import TextureGenerator

CONFIG_FILE = "config.yaml"
CHECKPOINT_DIR = "checkpoints"


def build_defgan(config: Config, with_embedder: bool = True) -> DefGAN:
    """The one constructor every command uses: a built (all variables created) DefGAN.

    Args:
        config: a resolved config (`load_config`).
        with_embedder: build the identity embedder named by `identity.embedder` (training);
            inference never needs it.
    """
    m = config.model
    texture = deformation = None
    if m.mode != "deformation_only":
        texture = TextureGenerator(
            width=m.generator_width, n_down=m.n_down, n_res=m.n_res, stem_kernel=m.stem_kernel,
            head_kernel=m.head_kernel, mask_bias_init=m.mask_bias_init, init_std=m.init_std,
            decoder=m.texture_decoder, head=m.texture_head, name="texture_generator")
    if m.mode != "texture_only":
        deformation = DeformationGenerator(
            width=m.deformation_width, n_down=m.n_down, n_res=m.n_res,
            stem_kernel=m.stem_kernel, head_kernel=m.head_kernel, init_std=m.init_std,
            sees_source=m.deformation_sees_source, decoder=m.deformation_decoder,
            head=m.deformation_head, name="deformation_generator")
    critic = Critic(image_size=m.image_size, width=m.critic_width, n_down=m.critic_n_down,
                    init_std=m.init_std, projection=m.critic_projection, name="critic")
    embedder = None
    if with_embedder and config.identity.embedder != "none" and m.mode != "texture_only":
        from defgan_tf.identity import build_embedder

        embedder = build_embedder(config.identity.embedder, config.identity.model_path)
    model = DefGAN(
        texture, deformation, critic, image_size=m.image_size, mode=m.mode,
        grid_mode=config.deformation.mode, max_offset_px=config.deformation.max_offset_px,
        integral_k=config.deformation.integral_k, padding=config.deformation.padding,
        loss_weights=dataclasses.asdict(config.losses), n_critic=config.train.n_critic,
        embedder=embedder, ema_decay=m.ema_decay, seed=config.train.seed,
        diff_augment=config.train.diff_augment, target_noise=config.data.target_noise,
        name="defgan")
    return model


def checkpoint_objects(model: DefGAN) -> dict:
    """What a checkpoint stores of the model, keyed by stable variable paths.

    Keras 3 layers kept in Python lists are invisible to tf.train.Checkpoint's object
    graph, so the variables are listed explicitly (`texture_generator/trunk/down0/conv/
    kernel`, ...), plus the model's random generator state.
    """
    return {"model_weights": {v.path: v for v in model.weights}, "model_rng": model.rng}


def latest_checkpoint(run_dir: str | Path) -> str | None:
    """Path prefix of the newest checkpoint of a run, or None."""
    return tf.train.latest_checkpoint(str(Path(run_dir) / CHECKPOINT_DIR))


def _unbuilt_parts(extra: set[str], model: DefGAN) -> str:
    """Names, in words, the model variables of a checkpoint that `model` does not have,
    each with the setting that decides whether it is built."""
    parts, explained = [], set()
    for generator in ("deformation_generator", "texture_generator"):
        under = {p for p in extra if p.startswith(f"{generator}/")}
        if under and getattr(model, generator) is None:
            parts.append(f"a {generator.replace('_', ' ')} (model.mode={model.mode})")
            explained |= under
    averages = {p for p in extra if p.startswith(f"{model.name}/ema_")}
    if averages and not model.ema_weights:
        parts.append(f"the generators' moving average (model.ema_decay={model.ema_decay})")
        explained |= averages
    elif averages and parts:  # the averages of the generator named above
        explained |= averages
    calibration = f"{model.name}/au_calibration"
    if calibration in extra and model.au_calibration is None:
        parts.append("the calibration of the critic's AU head (losses.au_target=labels)")
        explained.add(calibration)
    rest = sorted(extra - explained, key=lambda path: (path in averages, path))  # layers first
    if rest:
        parts.append(f"{len(rest)} variables of other layers (such as {rest[0]})")
    return " and ".join(parts)


def restore_matching(checkpoint: tf.train.Checkpoint, path: str, model: DefGAN, mismatch: str,
                     partial: bool = False) -> None:
    """Restores `path` into `checkpoint`, or raises a ConfigError that says why not.

    A checkpoint of another model fails in one of three places: a variable of another
    shape in restore() itself (ValueError), a variable the file lacks in
    assert_existing_objects_matched (AssertionError), and model variables the file has
    but the model does not, which restore() would silently leave behind: a run trained
    in `defgan` mode and loaded or resumed as `texture_only`, or with `model.ema_decay:
    0`, would drop its deformation generator or its moving average (and a resumed run's
    later checkpoints would lose them for good), so these are compared before restoring.
    Truncated or corrupt files are reported as such, naming the file.

    Args:
        checkpoint: what to restore into; its `model_weights` are `model`'s.
        path: the checkpoint's path prefix.
        model: the model whose variables `checkpoint` holds.
        mismatch: the start of the error message for variables the file lacks or holds
            in another shape, saying what did not match what.
        partial: the file may hold more than `checkpoint` (e.g. optimizer state).
    """
    extra = checkpoint_model_paths(path) - set(checkpoint_objects(model)["model_weights"])
    if extra:
        raise ConfigError(
            f"{path} holds {_unbuilt_parts(extra, model)} that this config does not build; "
            "restoring it would silently drop them. Use the model settings it was trained "
            "with (config.yaml of its run, no --set model.* changes on --resume), or start "
            "a new run.")
    try:
        status = checkpoint.restore(path)
        if partial:
            status = status.expect_partial()
        status.assert_existing_objects_matched()
    except DATA_READ_ERRORS as error:  # the index was read above: the data file is bad
        raise corrupt_checkpoint_error(path, data_files(path), error) from None
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        raise ConfigError(f"{mismatch} ({first_line(error)})") from None


def _exists(path: Path) -> bool:
    """Whether a dataset path names something: a file, a folder or a glob's matches."""
    return path.exists() or bool(glob.glob(str(path)))


def resolve_run_path(run_dir: str | Path, path: str) -> str:
    """Where a path recorded in a run's config.yaml (`data.path`) is, seen from here.

    Training records a dataset inside the run directory relative to it
    (`save_run_config`), so that the run works from any working directory and after
    being moved. Older versions recorded it relative to the working directory training
    ran in (`runs/q/data` for `--out runs/q`); such a path is used as it is where it
    exists, else its tail found inside the run directory (`data` in the moved run).

    Args:
        run_dir: the run directory, as the caller names it.
        path: the recorded path; an absolute one is returned unchanged.

    Returns:
        The path to open, relative to the working directory or absolute.
    """
    recorded, run_dir = Path(path), Path(run_dir)
    if recorded.is_absolute():
        return path
    if _exists(run_dir / recorded):
        return str(run_dir / recorded)
    if _exists(recorded):  # an older run, read from the directory it was trained in
        return path
    for start in range(1, len(recorded.parts)):  # an older run, moved or read from elsewhere
        tail = run_dir.joinpath(*recorded.parts[start:])
        if _exists(tail):
            return str(tail)
    return str(run_dir / recorded)  # nothing there yet: training renders it there


def load_run_config(run_dir: str | Path, overrides: list[str] | None = None) -> Config:
    """A run directory's config.yaml, with its `data.path` found from any working directory.

    What every command that reads a run's config calls (`load_run`, `train --resume`,
    `evaluate`), so that a run directory works from any working directory and after being
    moved (`resolve_run_path`). A `data.path` given in `overrides` is the caller's own,
    relative to the working directory, and is left as given.

    Args:
        run_dir: a directory written by `python -m defgan_tf.train`.
        overrides: `section.key=value` strings, as `load_config` takes them.

    Raises:
        ConfigError: the directory has no config.yaml, or it (or an override) is invalid.
    """
    run_dir = Path(run_dir)
    config_file = run_dir / CONFIG_FILE
    if not config_file.is_file():
        raise ConfigError(f"{run_dir} is not a run directory: it has no {CONFIG_FILE}.")
    config = load_config(config_file, overrides)
    recorded = load_config(config_file).data.path if overrides else config.data.path
    if recorded is not None and config.data.path == recorded:
        config.data.path = resolve_run_path(run_dir, recorded)
    return config


def save_run_config(config: Config, run_dir: str | Path) -> None:
    """Writes a run's config.yaml, with `data.path` as `load_run_config` reads it back.

    A dataset inside the run directory (the synthetic faces training renders there) is
    recorded relative to the run directory, any other one as an absolute path: either
    way the run finds it from any working directory, and the first also after the run
    directory is moved.
    """
    run_dir = Path(run_dir)
    recorded = copy.deepcopy(config)
    if config.data.path is not None:
        data, run = Path(os.path.abspath(config.data.path)), Path(os.path.abspath(run_dir))
        recorded.data.path = str(data.relative_to(run) if data.is_relative_to(run) else data)
    save_config(recorded, run_dir / CONFIG_FILE)


def load_run(run_dir: str | Path, use_ema: bool = True) -> tuple[Config, DefGAN]:
    """Rebuilds the model of a run directory from its config and newest checkpoint.

    Args:
        run_dir: a directory written by `python -m defgan_tf.train`.
        use_ema: use the generators' moving-average weights when the run kept them.

    Raises:
        ConfigError: the directory has no config or no checkpoint, or the checkpoint
            does not fit the model its config describes.
    """
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise ConfigError(f"{run_dir} has no checkpoint in {CHECKPOINT_DIR}/ yet.")
    model = build_defgan(config, with_embedder=False)
    weights = checkpoint_objects(model)["model_weights"]
    restore_matching(tf.train.Checkpoint(model_weights=weights), checkpoint, model,
                     f"{checkpoint} does not hold the weights of the model its {CONFIG_FILE} "
                     f"describes (model.image_size={config.model.image_size}); was it "
                     "trained with another version or config?", partial=True)
    if use_ema and model.ema_weights:
        model.swap_ema()
    return config, model
