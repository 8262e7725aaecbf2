"""Atomic, rotating checkpoints of everything a resumed run needs.

tf.train.CheckpointManager writes each checkpoint's data and index under new names and
only then rewrites the `checkpoint` state file (atomically, by rename), so a crash
mid-write leaves the last good checkpoint the one a resume finds.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import tensorflow as tf

from defgan_tf.models import DefGAN
from defgan_tf.models.build import CHECKPOINT_DIR, checkpoint_objects, restore_matching


class CheckpointKeeper:
    """Saves and restores model, optimizers, step counter and data iterator together.

    Args:
        run_dir: the run directory; checkpoints go to `run_dir/checkpoints/ckpt-<step>`.
        keep: how many checkpoints to keep.
        model: the model, saved as `checkpoint_objects` lists it.
        chief: only the chief writes into the run directory; other workers of a
            multi-worker run write (collectively required) copies to a temp dir.
        **objects: other trackables to save (d_optimizer=..., step=..., iterator=...).
    """

    def __init__(self, run_dir: str | Path, keep: int, model: DefGAN, chief: bool = True,
                 **objects):
        self.chief, self.model = chief, model
        self.checkpoint = tf.train.Checkpoint(**objects, **checkpoint_objects(model))
        directory = self.run_checkpoints = Path(run_dir) / CHECKPOINT_DIR
        if not chief:
            directory = Path(tempfile.mkdtemp(prefix="defgan_worker_ckpt_"))
        self.directory = directory
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(directory),
                                                  max_to_keep=keep)

    def save(self, step: int) -> str:
        """Writes checkpoint `ckpt-<step>` and returns its path prefix."""
        path = self.manager.save(checkpoint_number=step)
        if not self.chief:
            shutil.rmtree(self.directory, ignore_errors=True)
        return path

    def restore_latest(self) -> str | None:
        """Restores the newest checkpoint in place; returns its path, or None if none.

        Every worker reads the run directory's checkpoints, the chief's: the others only
        ever write throwaway copies, so resuming from their own would restart them at
        step 0 beside a chief at step N.

        Raises:
            ConfigError: the checkpoint is truncated or corrupt, or does not fit the
                model: variables it lacks, holds in another shape, or holds beyond the
                model's (`restore_matching`).
        """
        latest = tf.train.latest_checkpoint(str(self.run_checkpoints))
        if latest is None:
            return None
        restore_matching(self.checkpoint, latest, self.model, f"cannot resume from {latest}: "
                         "it does not match this model and config")
        return latest
