"""DefGAN: deformation generator, texture generator and critic, trained as a WGAN-GP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras
import tensorflow as tf

from defgan_tf import losses
from defgan_tf.aus import NUM_AUS
from defgan_tf.models.critic import Critic
from defgan_tf.models.deformation_generator import DeformationGenerator
from defgan_tf.models.texture_generator import TextureGenerator, attend
from defgan_tf.ops.augment import diff_augment
from defgan_tf.ops.grids import integral_grid, offset_grid
from defgan_tf.ops.warp import identity_grid, warp

MODES = ("defgan", "texture_only", "deformation_only")
AU_CALIBRATION_DECAY = 0.99
"""Per generator step, of the moving average of the AU head's calibration moments
(`losses.au_target: calibrated`): a half-life of 69 steps, so the fit follows the head as
it trains and averages over ~100 batches of held-out faces."""

# Logged per step. Loss terms are unweighted batch means, averaged across replicas;
# *_grad_norm is each replica's gradient norm of its own share of the batch, averaged.
CRITIC_METRICS = ("d_loss", "d_wasserstein", "d_gp", "d_au", "d_grad_norm")
GENERATOR_METRICS = ("g_loss", "g_adv", "g_exp", "g_cyc", "g_id", "g_comp", "g_tv", "g_def",
                     "g_mask", "g_mask_tv", "g_grad_norm", "g_au_slope")


class DefGAN(keras.Model):
    """The three networks and the training step of DESIGN.md §1–4.

    Args:
        texture_generator: G_T, or None in `deformation_only` mode.
        deformation_generator: G_D, or None in `texture_only` mode (W = Id, GANimation).
        critic: D with its critic and AU heads.
        image_size: side of the square faces the model edits.
        mode: "defgan" | "texture_only" | "deformation_only".
        grid_mode: "offset" (paper) | "integral" (Deforming Autoencoders).
        max_offset_px: largest offset of the offset grid, in pixels.
        integral_k: largest per-pixel increment of the integral grid, in pixels.
        padding: "border" | "zeros", how the warp reads outside the image.
        loss_weights: the `losses` config section as a dict (lambda_*, mask_pull,
                deformation_norm and deformation_scale_px).
        n_critic: critic steps per generator step; each sees its own batch.
        embedder: face embedder φ for the identity loss (an object with
            `embed(images, normalize=False)`), or None to skip the term.
        ema_decay: decay of the generator-weight moving average; 0 disables it.
        seed: seed of the model's own random generator (the gradient penalty's mixing
            weights, DiffAugment's draws); its state is checkpointed, so a resumed run
            draws what a straight run would have drawn.
        diff_augment: show the critic DiffAugment'd images, real and generated, in every
            update (`defgan_tf.ops.augment`); inference is never augmented.
        target_noise: the U(−n, n) noise on the sampled targets (`data.target_noise`); a
            projection critic scores real faces with their labels plus the same noise
            (`real_condition`).
    """

    def __init__(self, texture_generator: TextureGenerator | None,
                 deformation_generator: DeformationGenerator | None, critic: Critic,
                 image_size: int, mode: str = "defgan", grid_mode: str = "offset",
                 max_offset_px: float = 5.0, integral_k: float = 2.0, padding: str = "border",
                 loss_weights: dict[str, Any] | None = None, n_critic: int = 1,
                 embedder: Any = None, ema_decay: float = 0.0, seed: int = 0,
                 diff_augment: bool = False, target_noise: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}. Received: mode={mode!r}")
        if (mode == "texture_only") != (deformation_generator is None):
            raise ValueError("texture_only mode has no deformation generator, the others need "
                             f"one. Received: mode={mode!r}")
        if (mode == "deformation_only") != (texture_generator is None):
            raise ValueError("deformation_only mode has no texture generator, the others need "
                             f"one. Received: mode={mode!r}")
        self.texture_generator = texture_generator
        self.deformation_generator = deformation_generator
        self.critic = critic
        self.image_size, self.mode, self.grid_mode = image_size, mode, grid_mode
        self.max_offset_px, self.integral_k, self.padding = max_offset_px, integral_k, padding
        self.loss_weights = dict(loss_weights or {})
        self.n_critic, self.embedder, self.ema_decay = n_critic, embedder, ema_decay
        self.rng = tf.random.Generator.from_seed(seed)
        self.diff_augment, self.target_noise = diff_augment, target_noise
        # Every variable exists once the constructor returns (Keras locks a layer's state
        # after its first call): the networks, the weight averages and the loss trackers.
        self._build_networks()
        self.ema_weights = [
            self.add_weight(shape=v.shape, initializer="zeros", trainable=False, name=f"ema_{i}")
            for i, v in enumerate(self.generator_variables())
        ] if ema_decay > 0 else []
        for ema, var in zip(self.ema_weights, self.generator_variables()):
            ema.assign(var)
        self.holds_averages = False  # the generators hold their trained weights (swap_ema)
        self.au_calibration = None
        self._calibration_faces: tuple[tf.Tensor, tf.Tensor] | None = None
        if self.loss_weights.get("au_target", "labels") == "calibrated":
            # Moments of labels y and head readings p (losses.calibration_moments); the
            # start [0, 0, 1, 1] is the line p = y, i.e. the labels themselves.
            self.au_calibration = self.add_weight(
                shape=(4, NUM_AUS), trainable=False, aggregation="mean", name="au_calibration",
                initializer=keras.initializers.Constant([[0.0], [0.0], [1.0], [1.0]]))
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in CRITIC_METRICS + self.generator_metric_names()}
        self.built = True

    # ------------------------------------------------------------------ forward

    @property
    def generators(self) -> list[keras.Model]:
        return [g for g in (self.deformation_generator, self.texture_generator) if g is not None]

    def generator_variables(self) -> list[keras.Variable]:
        return [v for g in self.generators for v in g.trainable_variables]

    def make_grid(self, raw_field):
        """Δ → sampling grid W (DESIGN.md §1, grid variants)."""
        if self.grid_mode == "integral":
            return integral_grid(raw_field, self.integral_k)
        return offset_grid(raw_field, self.max_offset_px)

    def call(self, image, source_aus, target_aus, training=False):
        """Edits `image` from `source_aus` to `target_aus` (paper eq. 1–3).

        Args:
            image: (B, H, W, 3) float in [-1, 1].
            source_aus, target_aus: (B, 17) float in [0, 1], `defgan_tf.aus.AU_CODES` order.

        Returns:
            dict of float32 tensors: `edited` and `deformed` (B, H, W, 3) in [-1, 1];
            `grid` (B, H, W, 2), normalized (x, y) sampling positions; `color` (B, H, W, 3);
            `mask` (B, H, W, 1), 1 = keep the deformed pixel.
        """
        image = tf.cast(image, tf.float32)
        if self.deformation_generator is not None:
            raw = self.deformation_generator(image, source_aus, target_aus, training=training)
            grid = self.make_grid(tf.cast(raw, tf.float32))
            deformed = warp(image, grid, padding=self.padding)
        else:
            shape = tf.shape(image)
            grid = identity_grid(shape[0], image.shape[1], image.shape[2])
            deformed = image
        return {**self.texture(deformed, source_aus, target_aus, training=training),
                "deformed": deformed, "grid": grid}

    def texture(self, deformed, source_aus, target_aus, training=False):
        """The texture branch alone (paper eq. 2–3): paints over an already deformed image.

        `call` runs it on the model's own warp. Run on another image, such as a synthetic
        face warped by its true motion, it tells how much of an edit's error the texture
        branch leaves when the warp is perfect (`metrics.warp_parts`).

        Args:
            deformed: (B, H, W, 3) float in [-1, 1].
            source_aus, target_aus: (B, 17) float in [0, 1], the input's and the edit's.

        Returns:
            dict of float32 tensors `edited`, `color` (B, H, W, 3) and `mask`
            (B, H, W, 1); without a texture generator (`deformation_only`) the edit is
            `deformed` itself and the mask is 1.
        """
        deformed = tf.cast(deformed, tf.float32)
        if self.texture_generator is None:
            return {"edited": deformed, "color": deformed,
                    "mask": tf.ones_like(deformed[..., :1])}
        out = self.texture_generator(deformed, source_aus, target_aus, training=training)
        return {name: tf.cast(value, tf.float32) for name, value in out.items()}

    def estimate_aus(self, image):
        """AU intensities from the critic's AU head, clipped to [0, 1]. (B, 17) float32."""
        _, aus = self.critic(image, training=False)
        return tf.clip_by_value(tf.cast(aus, tf.float32), 0.0, 1.0)

    def _build_networks(self) -> None:
        """Creates the networks' variables by running each once on zeros."""
        image = tf.zeros((1, self.image_size, self.image_size, 3))
        aus = tf.zeros((1, NUM_AUS))
        if self.deformation_generator is not None:
            self.deformation_generator(image, aus, aus)
        if self.texture_generator is not None:
            self.texture_generator(image, aus, aus)
        self.critic(image, aus)

    def build(self, *shapes) -> None:
        """Nothing to create: the constructor already built every variable."""
        self.built = True

    # ------------------------------------------------------------------ training

    def compile(self, d_optimizer: keras.optimizers.Optimizer,
                g_optimizer: keras.optimizers.Optimizer, **kwargs) -> None:
        """Sets the critic and generator optimizers (keras-io WGAN-GP's shape)."""
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        # Optimizer slots are created now, not inside the first (possibly distributed)
        # tf.function call, where variable creation is lifted into an unrunnable cond.
        d_optimizer.build(self.critic.trainable_variables)
        g_optimizer.build(self.generator_variables())

    def generator_metric_names(self) -> tuple[str, ...]:
        """The generator terms this mode computes (see `generator_losses`)."""
        skip = set()
        if self.deformation_generator is None:
            skip |= {"g_comp", "g_tv", "g_def", "g_id"}
        if self.embedder is None:
            skip.add("g_id")
        if self.texture_generator is None:
            skip |= {"g_mask", "g_mask_tv"}
        if self.au_calibration is None:
            skip.add("g_au_slope")
        return tuple(name for name in GENERATOR_METRICS if name not in skip)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def train_step(self, data):
        """One generator step after `n_critic` critic steps, each on its own batch.

        Args:
            data: dict of `image` (n_critic, B, H, W, 3), `source_aus` and `target_aus`
                (n_critic, B, 17): n_critic consecutive batches of the input pipeline.
        """
        for i in range(self.n_critic):
            batch = {key: value[i] for key, value in data.items()}
            self._critic_step(batch["image"], batch["source_aus"], batch["target_aus"])
        if self.au_calibration is not None:
            self._update_au_calibration(tf.shape(batch["image"])[0])
        self._generator_step(batch["image"], batch["source_aus"], batch["target_aus"])
        if self.ema_weights:
            self._update_ema()
        return {m.name: m.result() for m in self.metrics}

    def set_au_calibration_faces(self, images, aus) -> None:
        """Real faces the critic never trains on, to calibrate its AU head against.

        Needed before training with `losses.au_target: calibrated`; the trainer holds
        `losses.au_calibration_faces` training images out of training for it.

        Args:
            images: (N, H, W, 3) float in [-1, 1].
            aus: (N, 17) their AU labels in [0, 1].
        """
        if self.au_calibration is None:
            raise ValueError("set_au_calibration_faces needs losses.au_target: calibrated.")
        self._calibration_faces = (tf.constant(images, tf.float32), tf.constant(aus, tf.float32))

    def _update_au_calibration(self, batch) -> None:
        """Moves the calibration moments toward those of a random batch of held-out faces."""
        if self._calibration_faces is None:
            raise ValueError("losses.au_target: calibrated needs held-out faces: call "
                             "set_au_calibration_faces(images, aus) before training.")
        images, aus = self._calibration_faces
        picks = self.rng.uniform([batch], 0, tf.shape(images)[0], dtype=tf.int32)
        _, read = self.critic(self.critic_view(tf.gather(images, picks)), training=True)
        moments = losses.calibration_moments(tf.gather(aus, picks), read)
        decay = AU_CALIBRATION_DECAY
        self.au_calibration.assign(decay * self.au_calibration + (1.0 - decay) * moments)
        slope, _ = losses.au_calibration_line(self.au_calibration)
        self._track(g_au_slope=tf.reduce_mean(slope))

    def expression_targets(self, target_aus) -> tf.Tensor:
        """What the expression loss asks the AU head to read: the target AUs, or their
        calibrated reading (`losses.au_target`, `losses.calibrated_au_targets`)."""
        if self.au_calibration is None:
            return tf.cast(target_aus, tf.float32)
        return losses.calibrated_au_targets(target_aus, self.au_calibration)

    def mixing_weights(self, batch):
        """ε ~ U(0, 1) per sample for the gradient penalty's x̂ = ε·real + (1 − ε)·fake."""
        return self.rng.uniform([batch])

    def real_condition(self, source_aus):
        """The AUs a projection critic scores a real face with: its labels plus the
        targets' U(−n, n) noise, clipped to [0, 1].

        Targets are other faces' labels plus that noise (`data.pipeline.sample_targets`),
        so unnoised labels would differ from them in distribution (exact zeros against
        small positive values), and the critic could tell real from edited by the AUs
        alone, a term no generator can lower: in a first synthetic run it did, and the
        Wasserstein estimate ran to −102 by step 380 (docs/tuning.md). With the same
        noise on both sides, only the image can tell them apart. An unconditional
        critic ignores the AUs, so they are returned as they are, and without a
        draw from the model's generator: unconditional runs draw what they drew before
        the projection critic existed, and resume exactly.
        """
        source_aus = tf.cast(source_aus, tf.float32)
        if not self.critic.projection:
            return source_aus
        noise = self.rng.uniform(tf.shape(source_aus), -self.target_noise, self.target_noise)
        return tf.clip_by_value(source_aus + noise, 0.0, 1.0)

    def critic_view(self, images):
        """What the critic is shown in training: `images`, or their DiffAugment."""
        return diff_augment(images, self.rng) if self.diff_augment else images

    def _weight(self, name: str) -> float:
        return float(self.loss_weights.get(name, 0.0))

    def _replica_scale(self) -> float:
        """Gradients are summed across replicas, so per-replica losses are divided by N."""
        return 1.0 / tf.distribute.get_strategy().num_replicas_in_sync

    # On one device the gradient computations run as tf.functions of their own, so the
    # n_critic critic steps inside one train_step share one trace instead of unrolling
    # n_critic copies of the graph (quickstart: 74 s → 48 s to trace). Under tf.distribute
    # they are inlined: nested functions there fail to run (replica-context placeholders).
    def _single_device(self) -> bool:
        return not tf.distribute.has_strategy()

    def warmup_step(self, data, optimizer: keras.optimizers.Optimizer) -> tf.Tensor:
        """`n_critic` critic updates of the AU regression alone (`train.critic_warmup`).

        No adversarial term: against an untrained generator it would only teach the
        critic to spot noise. Returns the batches' mean AU error (before each update).

        Args:
            data: as for `train_step`; only `image` and `source_aus` are used.
            optimizer: updates `critic.regression_variables`; not the critic's own
                optimizer, so the adversarial schedule starts untouched.
        """
        errors = []
        for i in range(self.n_critic):
            variables = self.critic.regression_variables
            with tf.GradientTape() as tape:
                _, real_aus = self.critic(self.critic_view(data["image"][i]), training=True)
                error = losses.au_regression(real_aus, data["source_aus"][i])
                scaled = optimizer.scale_loss(error * self._replica_scale())
            optimizer.apply(tape.gradient(scaled, variables), variables)
            errors.append(error)
        return tf.add_n(errors) / len(errors)

    def _critic_step(self, image, source_aus, target_aus) -> None:
        compute = (self._critic_gradients_traced if self._single_device()
                   else self._critic_gradients)
        grads, values = compute(image, source_aus, target_aus)
        self.d_optimizer.apply(grads, self.critic.trainable_variables)
        self._track(**values)

    def _critic_gradients(self, image, source_aus, target_aus):
        fake = tf.stop_gradient(self(image, source_aus, target_aus, training=True)["edited"])
        real, fake = self.critic_view(image), self.critic_view(fake)
        variables = self.critic.trainable_variables
        # A projection critic scores real faces with their (noised) labels and edits with
        # their targets; x̂ mixes the AUs with the images' ε. An unconditional one
        # ignores the AUs.
        condition = self.real_condition(source_aus)
        epsilon = self.mixing_weights(tf.shape(image)[0])
        mixed_aus = (epsilon[:, None] * condition
                     + (1.0 - epsilon[:, None]) * tf.cast(target_aus, tf.float32))
        with tf.GradientTape() as tape:
            real_scores, real_aus = self.critic(real, condition, training=True)
            fake_scores, _ = self.critic(fake, target_aus, training=True)
            wasserstein = losses.critic_wasserstein(real_scores, fake_scores)
            penalty = losses.gradient_penalty(
                lambda x: self.critic(x, mixed_aus, training=True)[0], real, fake,
                epsilon=epsilon)
            au_error = losses.au_regression(real_aus, source_aus)
            loss = (wasserstein + self._weight("lambda_gp") * penalty
                    + self._weight("lambda_au") * au_error)
            scaled = self.d_optimizer.scale_loss(loss * self._replica_scale())
        grads = tape.gradient(scaled, variables)
        return grads, {"d_loss": loss, "d_wasserstein": wasserstein, "d_gp": penalty,
                       "d_au": au_error,
                       "d_grad_norm": self._gradient_norm(grads, self.d_optimizer)}

    def generator_losses(self, image, source_aus, target_aus) -> dict[str, tf.Tensor]:
        """Every generator loss term of DESIGN.md §3, unweighted, plus the weighted `g_loss`."""
        out = self(image, source_aus, target_aus, training=True)
        back = self(out["edited"], target_aus, source_aus, training=True)
        fake_scores, edited_aus = self.critic(self.critic_view(out["edited"]), target_aus,
                                              training=True)
        terms = {
            "g_adv": losses.generator_adversarial(fake_scores),
            "g_cyc": losses.cycle_loss(back["edited"], image),
        }
        if self.deformation_generator is not None:
            _, deformed_aus = self.critic(self.critic_view(out["deformed"]), training=True)
            terms["g_exp"] = losses.expression_loss(
                self._edit_expression_reading(out, source_aus, target_aus, edited_aus),
                deformed_aus, self.expression_targets(target_aus),
                self._weight("beta_d"))
            terms["g_comp"] = losses.composition_loss(out["grid"], back["grid"])
            terms["g_tv"] = losses.grid_tv(out["grid"])
            terms["g_def"] = losses.grid_magnitude(
                out["grid"], self.loss_weights.get("deformation_norm", "squared"),
                self.loss_weights.get("deformation_scale_px", 0.5))
            if self.embedder is not None:
                terms["g_id"] = losses.identity_loss(
                    self.embedder.embed(out["deformed"]), self.embedder.embed(image))
        else:
            terms["g_exp"] = losses.au_regression(edited_aus,
                                                  self.expression_targets(target_aus))
        if self.texture_generator is not None:
            pull = self.loss_weights.get("mask_pull", "keep")
            terms["g_mask"] = (losses.mask_loss(out["mask"], pull)
                               + losses.mask_loss(back["mask"], pull))
            terms["g_mask_tv"] = losses.mask_tv(out["mask"]) + losses.mask_tv(back["mask"])
        weights = {"g_adv": 1.0, "g_exp": self._weight("lambda_exp"),
                   "g_cyc": self._weight("lambda_cyc"), "g_id": self._weight("lambda_id"),
                   "g_comp": self._weight("lambda_comp"), "g_tv": self._weight("lambda_tv"),
                   "g_def": self._weight("lambda_def"), "g_mask": self._weight("lambda_mask"),
                   "g_mask_tv": self._weight("lambda_mtv")}
        terms["g_loss"] = tf.add_n([weights[name] * value for name, value in terms.items()])
        return terms

    def _edit_expression_reading(self, out, source_aus, target_aus, edited_aus):
        """The AU head's reading of the edit that the expression loss is computed on.

        With `losses.edit_expression_trains: texture`, the texture branch repaints the
        deformed image behind a stop-gradient and the head reads that (same values, one
        more texture and critic pass), so the edit's AU loss reaches the texture branch
        only. Why: the AU head rewards motion leaked around the features that move, which
        the critic's score does not (docs/tuning.md, "Fourteenth round").

        With `color`, the mask of that repainting is held behind a stop-gradient too, so
        the loss trains what is painted, not where: the mask is left to the critic's
        score, the cycle and the mask regulariser. Why: the AU readers reward paint even
        where the renderer paints nothing, and more paint reads closer to the targets
        than the truth does (docs/tuning.md, "Seventeenth round"). In its one run nothing
        else opened the mask, and the warp took the AUs ("Twentieth round").
        """
        trains = self.loss_weights.get("edit_expression_trains", "generators")
        if trains == "generators":
            return edited_aus
        deformed = tf.stop_gradient(out["deformed"])
        painted = self.texture(deformed, source_aus, target_aus, training=True)
        if trains == "color":
            painted["edited"] = attend(deformed, painted["color"],
                                       tf.stop_gradient(painted["mask"]))
        _, aus = self.critic(self.critic_view(painted["edited"]), training=True)
        return aus

    def _generator_step(self, image, source_aus, target_aus) -> None:
        compute = (self._generator_gradients_traced if self._single_device()
                   else self._generator_gradients)
        grads, terms = compute(image, source_aus, target_aus)
        self.g_optimizer.apply(grads, self.generator_variables())
        self._track(**terms)

    def _generator_gradients(self, image, source_aus, target_aus):
        variables = self.generator_variables()
        with tf.GradientTape() as tape:
            terms = self.generator_losses(image, source_aus, target_aus)
            scaled = self.g_optimizer.scale_loss(terms["g_loss"] * self._replica_scale())
        grads = tape.gradient(scaled, variables)
        terms["g_grad_norm"] = self._gradient_norm(grads, self.g_optimizer)
        return grads, terms

    _critic_gradients_traced = tf.function(_critic_gradients)
    _generator_gradients_traced = tf.function(_generator_gradients)

    def _gradient_norm(self, grads, optimizer):
        """The unscaled gradient norm of this replica's loss (loss scaling undone)."""
        scale = optimizer.scale_loss(tf.constant(1.0)) * self._replica_scale()
        return tf.linalg.global_norm(grads) / scale

    def _track(self, **values) -> None:
        for name, value in values.items():
            if name.endswith("grad_norm"):
                # Under float16 loss scaling an overflowing step is skipped by the
                # optimizer; its infinite norm is left out of the average, not reported.
                finite = tf.math.is_finite(value)
                self.trackers[name].update_state(tf.where(finite, value, 0.0),
                                                 sample_weight=tf.cast(finite, tf.float32))
                continue
            self.trackers[name].update_state(value)

    def _update_ema(self) -> None:
        decay = self.ema_decay
        for ema, var in zip(self.ema_weights, self.generator_variables()):
            ema.assign(decay * ema + (1.0 - decay) * var)

    def swap_ema(self) -> None:
        """Exchanges the generator weights with their moving averages (call twice to undo).

        `holds_averages` says afterwards which of the two the generators hold.
        """
        for ema, var in zip(self.ema_weights, self.generator_variables()):
            current = tf.identity(var)
            var.assign(ema)
            ema.assign(current)
        self.holds_averages = bool(self.ema_weights) and not self.holds_averages

    @property
    def held_weights(self) -> str:
        """"ema" while the generators hold their moving averages, else "raw": the name
        exports and editing backends record, so a user can tell which weights they got."""
        return "ema" if self.holds_averages else "raw"

    @contextmanager
    def averaged_generators(self) -> Iterator[None]:
        """Inside the block the generators hold their moving averages, when the model
        keeps them (`model.ema_decay` > 0): what samples, evaluation and export show."""
        if not self.ema_weights:
            yield
            return
        self.swap_ema()
        try:
            yield
        finally:
            self.swap_ema()
