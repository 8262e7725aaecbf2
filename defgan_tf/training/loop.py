"""The training loop: data, strategy, model, checkpoints, logs, samples, progress, resume."""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from defgan_tf import losses
from defgan_tf.aus import PRESETS
from defgan_tf.config import Config, ConfigError
from defgan_tf.data.pipeline import make_dataset_from_config
from defgan_tf.data.readers import DatasetError, DatasetIndex, available_splits, read_dataset
from defgan_tf.metrics import MetricOptions, build_metric, synthetic_edit_set
from defgan_tf.models import DefGAN, build_defgan
from defgan_tf.models.build import latest_checkpoint, save_run_config
from defgan_tf.models.checkpoint_files import read_checkpoint_tensor
from defgan_tf.training.checkpoints import CheckpointKeeper
from defgan_tf.training.interrupts import StopRequest
from defgan_tf.training.samples import sample_grid
from defgan_tf.training.schedules import ConstantThenLinearDecay
from defgan_tf.training.strategies import is_chief, make_strategy

SAMPLE_EXPRESSIONS = ("happy", "surprise", "sad", "anger")
SAMPLE_FACES = 4
EVAL_FACES = 8
EVAL_METRICS = ("flow_error", "concentration", "ground_truth", "warp_parts")
INTERRUPTED = "interrupted (Ctrl-C)"
# The names a fresh `train` process gave its optimizers before they were named (critic
# first), so that checkpoints written since then resume: (Adam, loss-scale wrapper).
OPTIMIZER_NAMES = {"critic": ("adam", "loss_scale_optimizer"),
                   "generator": ("adam_1", "loss_scale_optimizer_1")}
WARMUP_OPTIMIZER_NAMES = ("critic_warmup_adam", "critic_warmup_loss_scale")

logger = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or Inf; the run stops and keeps its last good checkpoint."""


@dataclass
class TrainResult:
    """What a finished (or stopped) run reached."""

    step: int
    total_steps: int
    stopped_early: str | None
    last_logs: dict[str, float]
    images_per_second: float


def prepare_data_dir(config: Config, run_dir: Path, progress: bool = True) -> Config:
    """Renders the synthetic dataset if needed and points `data.path` at it.

    The faces are rendered into a private folder beside `data.path` and renamed into
    place when complete. Every worker of a multi-worker run sharing one run directory
    renders the same bytes (they depend only on count, size and seed); the first rename
    wins and the others discard their copy, so no worker reads a half-written dataset,
    and neither does a later run after a crash mid-render. `progress` shows the
    rendering's progress bar (off with `train --no-progress`, e.g. for logs to a file).
    """
    if config.data.format != "synthetic":
        return config
    from defgan_tf.data.synthetic import write_dataset
    from defgan_tf.data.synthetic.writer import INFO_JSON, holds_other_files

    path = Path(config.data.path) if config.data.path else run_dir / "data"
    if not (path / INFO_JSON).is_file():
        if holds_other_files(path):
            raise ConfigError(f"data.path {path} exists and is not a synthetic dataset (no "
                              f"{INFO_JSON}). Choose a new or empty folder.")
        staging = path.parent / f".{path.name}-rendering-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            write_dataset(staging, count=config.data.synthetic_count,
                          size=config.model.image_size, seed=config.data.synthetic_seed,
                          progress=progress)
            try:
                staging.rename(path)  # atomic; onto an empty folder too
            except OSError:
                if not (path / INFO_JSON).is_file():  # not another worker's copy
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    config.data.path = str(path)
    return config


def _flatten(values: dict, prefix: str) -> dict[str, float]:
    """Nested metric results → {"flow_error.epe": 0.18, ...}, finite numbers only."""
    flat = {}
    for key, value in values.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        elif isinstance(value, (int, float)) and math.isfinite(value):
            flat[name] = float(value)
    return flat


def _iterators_trackable(strategy: tf.distribute.Strategy) -> bool:
    """Whether tf.train.Checkpoint can save the position of this strategy's data iterators.

    Asked of a one-element float probe (the iterator's type, and so the answer, depends
    only on the strategy), so that a resumed run knows how many batches to skip before
    it builds (and starts prefetching) its real input pipeline.
    """
    probe = strategy.distribute_datasets_from_function(
        lambda _: tf.data.Dataset.from_tensors(tf.zeros([1], tf.float32)))
    try:
        tf.train.Checkpoint(iterator=iter(probe))
    except ValueError:
        return False
    return True


def _checkpointed_step(checkpoint: str) -> int:
    """The generator step stored in a checkpoint (read without restoring anything).

    Raises:
        ConfigError: the checkpoint is truncated or corrupt, or holds no step counter.
    """
    step = read_checkpoint_tensor(checkpoint, "step/.ATTRIBUTES/VARIABLE_VALUE")
    if step is None:
        raise ConfigError(f"cannot resume from {checkpoint}: it holds no step counter, so it "
                          "was not written by training.")
    return int(step)


def make_adam(config: Config,
              learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
              names: tuple[str, str]) -> keras.optimizers.Optimizer:
    """Adam with the configured betas, loss-scaled under mixed_float16.

    Args:
        names: the Adam's name and its loss-scale wrapper's. A name is part of every
            optimizer variable's path (`adam/..._momentum`), which is how checkpoints key
            them. Keras numbers unnamed optimizers per process (adam, adam_1, ...), so a
            run trained where other optimizers had been built first (a notebook, a test
            session) was keyed differently from one the `train` command resumes.
    """
    o = config.optimizer
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=o.beta_1, beta_2=o.beta_2,
                                      name=names[0])
    if config.train.mixed_precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name=names[1])
    return optimizer


def _optimizers(config: Config, total_steps: int) -> tuple[keras.optimizers.Optimizer, ...]:
    o, t = config.optimizer, config.train
    decay_steps = round(total_steps * o.decay_epochs / t.epochs)

    def scheduled(lr: float, steps_per_step: int, names: tuple[str, str]
                  ) -> keras.optimizers.Optimizer:
        return make_adam(config, ConstantThenLinearDecay(lr, total_steps * steps_per_step,
                                                         decay_steps * steps_per_step), names)

    return (scheduled(o.critic_lr, t.n_critic, OPTIMIZER_NAMES["critic"]),
            scheduled(o.generator_lr, 1, OPTIMIZER_NAMES["generator"]))


def _sample_batch(config: Config, train_index: DatasetIndex
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed validation faces × fixed target expressions for the sample grids.

    Held-out faces where the dataset has a test split; otherwise (no split files, or an
    empty test split) the training faces already read, rather than a second read.
    """
    split, index = "train", train_index
    if "test" in available_splits(config.data.path, config.data.format):
        test_index = read_dataset(config.data, split="test")
        if len(test_index):
            split, index = "test", test_index
    # Consecutive files are often one identity (synthetic data: 8–12 expressions each),
    # so the sample faces are spread over the split.
    stride = max(1, min(16, len(index) // SAMPLE_FACES))
    dataset = make_dataset_from_config(config, split=split, training=False, index=index,
                                       batch_size=min(len(index), stride * SAMPLE_FACES))
    try:
        batch = next(iter(dataset))
    except StopIteration:  # every image failed to decode (TFRecords are not re-validated)
        raise DatasetError(f"the dataset at {index.root}: no image of split {split!r} could "
                           "be decoded. Check the files, or convert the dataset again with "
                           "`defgan-data tfrecord` (it validates every image).") from None
    faces = batch["image"].numpy()[::stride][:SAMPLE_FACES]
    sources = batch["source_aus"].numpy()[::stride][:SAMPLE_FACES]
    targets = np.stack([PRESETS[name] for name in SAMPLE_EXPRESSIONS]).astype(np.float32)
    images = np.repeat(faces, len(targets), axis=0)
    source_aus = np.repeat(sources, len(targets), axis=0)
    target_aus = np.tile(targets, (len(faces), 1))
    return images, source_aus, target_aus


def hold_out_calibration_faces(config: Config, index: DatasetIndex
                                ) -> tuple[DatasetIndex, np.ndarray, np.ndarray]:
    """Splits `losses.au_calibration_faces` images off the training set.

    With `losses.au_target: calibrated` the expression loss asks the critic's AU head
    for what it reads on real faces it never trained on; these are those faces. The
    split is seeded by `train.seed`, so a resumed run holds out the same ones.

    Returns:
        The training index without them, and their images (N, S, S, 3) in [-1, 1] and
        AU labels (N, 17).

    Raises:
        ConfigError: TFRecord data (its records cannot be held out one by one), or too
            few images to leave both sets usable.
    """
    count = config.losses.au_calibration_faces
    if index.shards:
        raise ConfigError("losses.au_target: calibrated holds training images out by path; "
                          "it needs an image-folder dataset, not TFRecords.")
    if count > len(index.paths) // 2:
        raise ConfigError(f"losses.au_calibration_faces={count} would hold out more than half "
                          f"of the {len(index.paths)} training images; lower it.")
    order = np.random.default_rng(config.train.seed).permutation(len(index.paths))
    held, kept = np.sort(order[:count]), np.sort(order[count:])

    def subset(rows: np.ndarray) -> DatasetIndex:
        return dataclasses.replace(index, paths=[index.paths[i] for i in rows],
                                   aus=index.aus[rows])
    faces = make_dataset_from_config(config, split="train", training=False,
                                     index=subset(held), batch_size=count, repeat=False)
    batch = next(iter(faces))
    return subset(kept), batch["image"].numpy(), batch["source_aus"].numpy()


class Trainer:
    """Runs `train.max_steps` (or `epochs`) generator steps of DefGAN on `config.data`.

    Args:
        config: the resolved config.
        run_dir: where the config, checkpoints, TensorBoard logs and samples go.
        resume: continue from the newest checkpoint in `run_dir`.
        progress: show a progress bar.
    """

    def __init__(self, config: Config, run_dir: str | Path, resume: bool = False,
                 progress: bool = True):
        self.config, self.run_dir, self.progress = config, Path(run_dir), progress
        self.chief = is_chief()
        self._check_run_dir(resume)
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # e.g. a file where a parent folder should be
            raise ConfigError(f"--out {self.run_dir}: cannot create the run directory "
                              f"({error.strerror}).") from None
        # The strategy first: multi-worker collectives must be set up before other TF work.
        self.strategy = make_strategy(config.train.strategy, config.train.tpu)
        if config.train.deterministic:
            tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(config.train.seed)
        if config.train.mixed_precision != "none":
            keras.mixed_precision.set_global_policy(config.train.mixed_precision)
        prepare_data_dir(config, self.run_dir, progress=self.progress and self.chief)
        self.index = read_dataset(config.data, split="train")
        self.eval_every = self._periodic_eval_every()
        calibration = None
        if config.losses.au_target == "calibrated":
            self.index, *calibration = hold_out_calibration_faces(config, self.index)
        self.steps_per_epoch = max(
            1, len(self.index) // (config.train.batch_size * config.train.n_critic))
        self.total_steps = config.train.max_steps or config.train.epochs * self.steps_per_epoch
        with self.strategy.scope():
            self.model: DefGAN = build_defgan(config)
            d_optimizer, g_optimizer = _optimizers(config, self.total_steps)
            self.model.compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer)
            if calibration is not None:
                self.model.set_au_calibration_faces(*calibration)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # The data position is the iterator's own checkpointed state where tf.distribute
        # can save it (one device, MirroredStrategy); elsewhere (multi-worker) a resumed
        # run skips the batches the checkpointed step count says were consumed.
        trackable = _iterators_trackable(self.strategy)
        self.skip_batches = 0
        if resume and not trackable:
            self.skip_batches = _checkpointed_step(latest_checkpoint(self.run_dir))
        self.iterator = iter(self.strategy.distribute_datasets_from_function(self._dataset_fn))
        data_state = {"iterator": self.iterator} if trackable else {}
        self.keeper = CheckpointKeeper(
            self.run_dir, config.train.keep_checkpoints, self.model, chief=self.chief,
            d_optimizer={v.path: v for v in d_optimizer.variables},
            g_optimizer={v.path: v for v in g_optimizer.variables},
            step=self.step, **data_state)
        if resume:
            self.keeper.restore_latest()
        if self.chief:
            save_run_config(config, self.run_dir)
        # The chief logs; another worker's events file in a shared run directory would
        # show in TensorBoard as the same run, its steps written twice.
        self.writer = (tf.summary.create_file_writer(str(self.run_dir / "logs")) if self.chief
                       else tf.summary.create_noop_writer())
        self.samples = _sample_batch(config, self.index) if self.chief else None
        self.stop_request = StopRequest()
        self._train_function = self._make_train_function()

    def _check_run_dir(self, resume: bool) -> None:
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise ConfigError(f"--out {self.run_dir} is a file, not a run directory. Choose a "
                              "new folder, or a run's folder with --resume.")
        has_checkpoint = latest_checkpoint(self.run_dir) is not None
        if resume and not has_checkpoint:
            raise ConfigError(f"--resume: {self.run_dir} has no checkpoint to resume from.")
        if not resume and has_checkpoint:
            raise ConfigError(f"{self.run_dir} already holds a run. Pass --resume to continue "
                              "it, or choose a new --out directory.")

    def _periodic_eval_every(self) -> int:
        """`train.eval_every`, or 0 where the run cannot evaluate as it goes.

        Decided before the first step, with one warning saying why, so that the
        evaluation never stops a run midway: it edits held-out synthetic identities, and
        a small synthetic dataset (`data.synthetic_count` of one identity's 8–12 faces)
        holds out none.
        """
        t, data = self.config.train, self.config.data
        if not (t.eval_every and self.chief and data.format == "synthetic"):
            return 0
        if not len(read_dataset(data, split="test")):
            logger.warning(
                "train.eval_every=%d: the synthetic dataset at %s has no test identity to "
                "evaluate on (data.synthetic_count=%d faces are too few to hold one out), so "
                "this run skips the periodic evaluation. Raise data.synthetic_count to "
                "evaluate during training.", t.eval_every, data.path, data.synthetic_count)
            return 0
        return t.eval_every

    def _dataset_fn(self, context: tf.distribute.InputContext) -> tf.data.Dataset:
        dataset = make_dataset_from_config(self.config, split="train", training=True,
                                           index=self.index, input_context=context)
        return dataset.batch(self.config.train.n_critic, drop_remainder=True).skip(
            self.skip_batches)

    def _make_train_function(self):
        """One generator step and the step counter, in one tf.function call.

        Counting the step in the same call keeps the counter and the weights, optimizer
        and data position it labels one state: a second Ctrl-C raises KeyboardInterrupt
        only between Python statements, and one falling between an update and a separate
        count would checkpoint step N's state as step N − 1.
        """
        model, strategy, step = self.model, self.strategy, self.step

        @tf.function
        def train_function(iterator):
            strategy.run(model.train_step, args=(next(iterator),))
            step.assign_add(1)

        return train_function

    # ------------------------------------------------------------------ the loop

    def run(self) -> TrainResult:
        """Trains until the step budget, a time limit, Ctrl-C or a non-finite loss.

        Ctrl-C ends the run at the next step boundary (`StopRequest`), with a checkpoint.
        """
        with self.stop_request:
            return self._run()

    def _run(self) -> TrainResult:
        t = self.config.train
        start = int(self.step.numpy())
        images_per_step = t.batch_size * t.n_critic
        started, logs, stopped, rate, bar = time.monotonic(), {}, None, 0.0, None
        try:
            if start == 0 and t.critic_warmup:
                self.warm_up_critic()
            bar = tqdm(total=self.total_steps, initial=start, disable=not (self.progress
                       and self.chief), unit="step", dynamic_ncols=True)
            while int(self.step.numpy()) < self.total_steps:
                if self.stop_request.requested:
                    stopped = INTERRUPTED
                    break
                tic = time.monotonic()
                self._train_function(self.iterator)
                step = int(self.step.numpy())
                logs = self._check_finite(step)
                # Faces read per second (n_critic batches per generator step), smoothed.
                current = images_per_step / (time.monotonic() - tic)
                rate = 0.9 * rate + 0.1 * current if rate else current
                self._after_step(step, logs, rate, bar)
                if t.max_minutes and time.monotonic() - started > 60 * t.max_minutes:
                    stopped = f"time limit of {t.max_minutes} minutes"
                    break
        except KeyboardInterrupt:  # Ctrl-C twice, or once during the warm-up
            stopped = INTERRUPTED
        finally:
            if bar is not None:
                bar.close()
        step = int(self.step.numpy())
        if step > start:
            self.keeper.save(step)
            if self.chief and step % t.sample_every and step != self.total_steps:
                self.write_samples(step)  # a run stopped early still shows where it got
        self.writer.flush()
        return TrainResult(step, self.total_steps, stopped, logs, rate)

    def warm_up_critic(self) -> tuple[float, float]:
        """`train.critic_warmup` updates of the critic's AU head on real faces.

        Runs once, before the first step of a fresh run (a run killed during warm-up has
        no checkpoint and starts over). It reads its own pass over the training data, so
        the checkpointed data position of the main iterator is unaffected.

        Returns:
            The mean AU error (MSE) of the first and of the last ten warm-up calls.
        """
        t = self.config.train
        calls = math.ceil(t.critic_warmup / t.n_critic)
        with self.strategy.scope():
            optimizer = make_adam(self.config, self.config.optimizer.critic_lr,
                                  WARMUP_OPTIMIZER_NAMES)
            optimizer.build(self.model.critic.regression_variables)
        model, strategy = self.model, self.strategy

        @tf.function
        def warmup_function(iterator):
            error = strategy.run(model.warmup_step, args=(next(iterator), optimizer))
            return strategy.reduce(tf.distribute.ReduceOp.MEAN, error, axis=None)

        iterator = iter(self.strategy.distribute_datasets_from_function(self._dataset_fn))
        errors = []
        with tqdm(total=calls * t.n_critic, unit="update", desc="critic warm-up",
                  disable=not (self.progress and self.chief), dynamic_ncols=True) as bar:
            for call in range(calls):
                if self.stop_request.requested:
                    raise KeyboardInterrupt  # ends the run like Ctrl-C twice: no step yet
                errors.append(float(warmup_function(iterator)))
                if not math.isfinite(errors[-1]):
                    raise NonFiniteLossError(
                        f"non-finite AU error ({errors[-1]}) at critic warm-up update "
                        f"{call * t.n_critic}. Lower optimizer.critic_lr or check the data.")
                bar.update(t.n_critic)
                bar.set_postfix(d_au=f"{errors[-1]:.4f}", refresh=False)
        first, last = float(np.mean(errors[:10])), float(np.mean(errors[-10:]))
        if self.chief:
            with self.writer.as_default(step=0):
                tf.summary.scalar("warmup/d_au_first", first)
                tf.summary.scalar("warmup/d_au_last", last)
        return first, last

    def _check_finite(self, step: int) -> dict[str, float]:
        logs = {m.name: float(m.result()) for m in self.model.metrics}
        bad = [name for name, value in logs.items() if not math.isfinite(value)]
        if bad:
            raise NonFiniteLossError(
                f"non-finite loss at step {step}: {', '.join(bad)} = "
                f"{', '.join(str(logs[b]) for b in bad)}. Training stopped; the last good "
                f"checkpoint is {latest_checkpoint(self.run_dir) or 'none (no checkpoint yet)'}."
                " Lower the learning rate or check the data.")
        return logs

    def _after_step(self, step: int, logs: dict[str, float], rate: float, bar: tqdm) -> None:
        t = self.config.train
        bar.update(1)
        epoch = (step - 1) // self.steps_per_epoch + 1
        bar.set_postfix(epoch=epoch, img_s=f"{rate:.1f}", d=f"{logs['d_loss']:.3f}",
                        g=f"{logs['g_loss']:.3f}", w=f"{logs['d_wasserstein']:.3f}",
                        refresh=False)
        if step % t.log_every == 0:
            self._write_scalars(step, logs, rate)
            for metric in self.model.metrics:
                metric.reset_state()
        if self.chief and (step % t.sample_every == 0 or step == self.total_steps):
            self.write_samples(step)
        if self.eval_every and step % self.eval_every == 0:
            self.write_eval(step)
        if step % t.checkpoint_every == 0 and step < self.total_steps:
            self.keeper.save(step)

    def _write_scalars(self, step: int, logs: dict[str, float], rate: float) -> None:
        if not self.chief:
            return
        weights = self.model.loss_weights
        term_weight = {"g_exp": "lambda_exp", "g_cyc": "lambda_cyc", "g_id": "lambda_id",
                       "g_comp": "lambda_comp", "g_tv": "lambda_tv", "g_def": "lambda_def",
                       "g_mask": "lambda_mask", "g_mask_tv": "lambda_mtv", "d_gp": "lambda_gp",
                       "d_au": "lambda_au"}
        with self.writer.as_default(step=step):
            for name, value in logs.items():
                tf.summary.scalar(f"losses/{name}", value)
                if name in term_weight:
                    tf.summary.scalar(f"weighted/{name}", value * weights[term_weight[name]])
            tf.summary.scalar("lr/generator", float(self.model.g_optimizer.learning_rate))
            tf.summary.scalar("lr/critic", float(self.model.d_optimizer.learning_rate))
            tf.summary.scalar("speed/images_per_second", rate)

    @contextmanager
    def _averaged_generators(self) -> Iterator[None]:
        """`DefGAN.averaged_generators`, each swap done whole even under a second Ctrl-C.

        A swap is one assign per generator variable, and a second Ctrl-C raises
        KeyboardInterrupt between any two of them: the checkpoint the stopped run then
        writes would hold generators half trained and half averaged. The stop request
        holds the interrupt until a swap is complete, and the generators are swapped back
        however the block ends.
        """
        swapped = False
        try:
            with self.stop_request.held():
                self.model.swap_ema()
                swapped = True
            yield
        finally:
            if swapped:
                with self.stop_request.held():
                    self.model.swap_ema()

    def write_eval(self, step: int) -> dict[str, float]:
        """Logs the ground-truth metrics of held-out synthetic edits (TensorBoard `eval/`).

        The same registered metrics as `python -m defgan_tf.evaluate` (without the AU
        regressor, which needs its own training): whether the deformation follows the
        true motion (flow_error), where the edit lands (concentration, ground_truth) and
        what its wrong motion costs in pixels (warp_parts, with the critic's AU reading
        of each part), of the generators' moving average when the run keeps one (what
        evaluate and export use).
        Also the critic's AU error on the held-out true renders, `critic.au_mse_heldout`:
        next to `losses/d_au` (training faces) it shows whether the AU head is
        memorising the training faces (docs/tuning.md, "Where run 2 still goes wrong").
        """
        def numpy_maps(run):
            return lambda *arrays: {k: v.numpy() for k, v in run(*arrays).items()}

        with self._averaged_generators():
            edits = synthetic_edit_set(numpy_maps(self.model), self.config.data.path,
                                       self.config.model.image_size, PRESETS, faces=EVAL_FACES,
                                       texture=numpy_maps(self.model.texture))
        options = MetricOptions(critic=lambda images: self.model.estimate_aus(images).numpy())
        scalars = {}
        for name in EVAL_METRICS:
            scalars.update(_flatten(build_metric(name, options)(edits), name))
        _, predicted = self.model.critic(edits.targets)
        scalars["critic.au_mse_heldout"] = float(losses.au_regression(predicted,
                                                                      edits.target_aus))
        with self.writer.as_default(step=step):
            for name, value in scalars.items():
                tf.summary.scalar(f"eval/{name}", value)
        return scalars

    def write_samples(self, step: int) -> Path:
        """Writes the sample grid to TensorBoard and to `samples/step_<step>.png`."""
        images, source_aus, target_aus = self.samples
        with self._averaged_generators():
            outputs = {k: v.numpy()
                       for k, v in self.model(images, source_aus, target_aus).items()}
        grid = sample_grid(outputs, images, self.config.deformation.max_offset_px)
        with self.writer.as_default(step=step):
            tf.summary.image("samples/input|deformed|mask|color|edited|flow", grid[None])
        path = self.run_dir / "samples" / f"step_{step:06d}.png"
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        return path
