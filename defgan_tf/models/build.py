"""Builds DefGAN from a config, and loads a trained one from a run directory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import tensorflow as tf

from defgan_tf.config import Config, ConfigError, load_config
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


def restore_matching(checkpoint: tf.train.Checkpoint, path: str, mismatch: str,
                     partial: bool = False) -> None:
    """Restores `path` into `checkpoint`, or raises ConfigError(mismatch + the first reason).

    A checkpoint of another model fails in one of two places: a variable of another
    shape in restore() itself (ValueError), a variable the file lacks in
    assert_existing_objects_matched (AssertionError); unreadable data raises an OpError.

    Args:
        checkpoint: what to restore into.
        path: the checkpoint's path prefix.
        mismatch: the start of the error message, saying what did not match what.
        partial: the file may hold more than `checkpoint` (e.g. optimizer state).
    """
    try:
        status = checkpoint.restore(path)
        if partial:
            status = status.expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        reason = str(error).strip().splitlines()[0][:200]
        raise ConfigError(f"{mismatch} ({reason})") from None


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
    if not (run_dir / CONFIG_FILE).is_file():
        raise ConfigError(f"{run_dir} is not a run directory: it has no {CONFIG_FILE}.")
    config = load_config(run_dir / CONFIG_FILE)
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise ConfigError(f"{run_dir} has no checkpoint in {CHECKPOINT_DIR}/ yet.")
    model = build_defgan(config, with_embedder=False)
    weights = checkpoint_objects(model)["model_weights"]
    restore_matching(tf.train.Checkpoint(model_weights=weights), checkpoint,
                     f"{checkpoint} does not hold the weights of the model its {CONFIG_FILE} "
                     f"describes (model.image_size={config.model.image_size}); was it "
                     "trained with another version or config?", partial=True)
    if use_ema and model.ema_weights:
        model.swap_ema()
    return config, model
