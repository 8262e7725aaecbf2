"""Typed configuration: dataclass sections loaded from YAML, overridden with `section.key=value`.

`load_config` is the one entry point every command and test uses. Every field carries
a one-line description and, for loss weights, where its default comes from. Unset
(None) fields that depend on others (λ_exp on the batch size, the critic depth on the
image size) are resolved at load time, so the config written into a run directory is
complete and enough to rebuild the model.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from defgan_tf import files


class ConfigError(ValueError):
    """A user mistake in a config file or override; the message says what to change."""


# Every dataset layout `data.format` names (the readers in defgan_tf/data/readers.py).
# Here rather than there so that commands list them without importing TensorFlow.
DATA_FORMATS = ("synthetic", "openface", "ganimation", "manifest", "tfrecord")


def _field(default: Any, doc: str, choices: tuple[Any, ...] | None = None) -> Any:
    return field(default=default, metadata={"doc": doc, "choices": choices})


@dataclass
class ModelConfig:
    """Network sizes and the editing mode (DESIGN.md §2)."""

    image_size: int = _field(128, "Face crop side in pixels (paper: 128).")
    mode: str = _field(
        "defgan",
        "defgan: deform then texture; texture_only: GANimation (identity grid); "
        "deformation_only: no texture generator.",
        ("defgan", "texture_only", "deformation_only"),
    )
    generator_width: int = _field(64, "Base width `ch` of the texture generator (paper: 64).")
    deformation_width: int | None = _field(
        None, "Base width of the deformation generator; None = generator_width."
    )
    n_res: int = _field(6, "Residual blocks in each generator trunk (GANimation: 6).")
    n_down: int = _field(2, "Stride-2 downsamplings in each generator encoder (GANimation: 2).")
    stem_kernel: int = _field(7, "Kernel of the generators' first conv (GANimation: 7).")
    head_kernel: int = _field(7, "Kernel of the generators' output convs (GANimation: 7).")
    deformation_sees_source: bool = _field(
        True, "Condition the deformation generator on the source AUs too (paper eq. 1); "
        "with deformation_head per_au its trunk reads no AUs and this permits the y_t − y_o "
        "combination."
    )
    deformation_decoder: str = _field(
        "conv",
        "conv: bilinear ×2 + conv3 per level, field head at full size (DESIGN.md §2); "
        "bilinear: field head at the trunk's size, upsampled bilinearly with no learned "
        "layer (paper appendix D.1, literal reading); unet: conv with each level also "
        "reading the encoder's features of its size, so the field can follow the face's "
        "edges (docs/tuning.md, \"Twelfth round\").",
        ("conv", "bilinear", "unet"),
    )
    deformation_head: str = _field(
        "field",
        "field: one field per edit from the face and the tiled AUs (paper eq. 1); per_au: "
        "one field per AU from the face alone, combined by target − source AUs (FACS "
        "additivity; docs/tuning.md, \"Eleventh round\").",
        ("field", "per_au"),
    )
    texture_decoder: str = _field(
        "transpose",
        "transpose: stride-2 transposed conv4 per level (GANimation); upsample: bilinear ×2 "
        "+ conv3 per level, as the deformation decoder (no checkerboard in the colour map).",
        ("transpose", "upsample"),
    )
    texture_head: str = _field(
        "color",
        "color: the colour map from the deformed face and the tiled target AUs (GANimation, "
        "paper eq. 2); per_au: the deformed face plus one colour change per AU, read from "
        "the face alone and weighted by target − source AUs. Both are painted through an "
        "attention mask (docs/tuning.md, \"Thirteenth round\").",
        ("color", "per_au"),
    )
    critic_width: int = _field(64, "Base width of the critic (GANimation: 64).")
    critic_projection: bool = _field(
        False, "Condition the critic's score on the AUs a face should show (projection "
        "discriminator, Miyato & Koyama 2018): real faces with their labels plus the "
        "targets' data.target_noise, edits with their targets. Off = GANimation's "
        "unconditional critic (docs/tuning.md, \"Tenth round\")."
    )
    critic_n_down: int | None = _field(
        None, "Stride-2 convs in the critic; None = log2(image_size) - 1 (6 at 128)."
    )
    mask_bias_init: float = _field(
        3.0, "Initial bias of the mask head: sigmoid(3) = 0.95 keeps the deformed image."
    )
    init_std: float = _field(0.02, "Std of the N(0, σ) weight initialiser (GANimation).")
    ema_decay: float = _field(
        0.0, "Exponential moving average of the generators' weights, used for samples, "
        "evaluation and export (`--no-ema` opts out); 0 = off. The average keeps "
        "ema_decay^steps of the initial weights; 0.999 for the 3000 steps of "
        "configs/synthetic.yaml (docs/tuning.md)."
    )


@dataclass
class DeformationConfig:
    """How the deformation generator's raw field becomes a sampling grid (DESIGN.md §1)."""

    mode: str = _field(
        "offset", "offset: Id + s·tanh(Δ) (paper); integral: DAE cumulative sum.",
        ("offset", "integral"),
    )
    max_offset_px: float | None = _field(
        None, "Largest offset in pixels; None = 5 · image_size / 128 (paper: 5 px at 128)."
    )
    padding: str = _field(
        "border", "Out-of-range samples: clamp to the border or read zeros.", ("border", "zeros")
    )
    integral_k: float = _field(2.0, "integral mode: largest per-pixel increment in pixels.")


@dataclass
class LossConfig:
    """Loss weights (DESIGN.md §3); each names where its default comes from."""

    lambda_gp: float = _field(10.0, "Gradient penalty weight (WGAN-GP, GANimation: 10).")
    lambda_exp: float | None = _field(
        None, "Expression (AU) loss weight on mean-over-AUs MSE; None = 4000 / batch (GANimation)."
    )
    lambda_au: float | None = _field(
        None, "Critic AU regression weight on real faces; None = lambda_exp (GANimation)."
    )
    beta_d: float = _field(1.0, "Relative weight of the expression loss on the deformed image.")
    lambda_cyc: float = _field(10.0, "Cycle L1 weight (GANimation: 10).")
    lambda_id: float = _field(1.0, "Identity cosine loss weight (paper; value guessed).")
    lambda_comp: float = _field(1.0, "Grid composition loss weight (paper eq. 13; guessed).")
    lambda_tv: float = _field(1.0, "Grid total-variation weight (mean form; our choice).")
    lambda_def: float = _field(0.1, "Grid magnitude ‖W − Id‖ weight (paper eq. 14; guessed).")
    deformation_norm: str = _field(
        "squared",
        "Norm of the grid magnitude term: squared (mean (W − Id)², DESIGN.md reading); "
        "l1 (mean absolute W − Id: pulls small offsets to exactly zero); log (mean "
        "s·log(1 + |W − Id|/s): pulls small offsets as l1 does, large ones less).",
        ("squared", "l1", "log"),
    )
    deformation_scale_px: float = _field(
        0.5, "log norm only: the offset s, in pixels, at which its pull falls to half.")
    lambda_mask: float = _field(0.1, "Mask regulariser weight (GANimation: 0.1).")
    lambda_mtv: float = _field(1e-5, "Mask total variation weight, sum form (GANimation: 1e-5).")
    mask_pull: str = _field(
        "keep",
        "keep: push A toward 1 (keep deformed pixels, DESIGN.md reading); "
        "texture: push A toward 0 (GANimation code's literal sign).",
        ("keep", "texture"),
    )
    au_target: str = _field(
        "labels",
        "What the expression loss asks the critic's AU head to read on an edit: labels "
        "(the target AUs, paper eq. 9); calibrated (what the head reads on real faces it "
        "was not trained on that carry those AUs, fitted per AU while training: the head "
        "reads held-out faces shrunk toward the mean, so asking it for the labels rewards "
        "exaggerated edits; docs/tuning.md).",
        ("labels", "calibrated"),
    )
    edit_expression_trains: str = _field(
        "generators",
        "Which generators the expression loss on the edit trains: generators (both, paper "
        "eq. 9); texture (the texture branch only: the warp is then asked for the AUs by "
        "the deformed image's own term, beta_d, and by the critic's score, not through the "
        "edit; docs/tuning.md); color (the texture branch's colour map only: where it "
        "paints is left to the critic's score, the cycle and the mask regulariser; in its "
        "one run the mask closed and the AU error rose to 0.64× no edit, docs/tuning.md).",
        ("generators", "texture", "color"),
    )
    au_calibration_faces: int = _field(
        256, "With au_target: calibrated, training images held out of training to fit "
        "the calibration on (the rest train).")


@dataclass
class IdentityConfig:
    """The face embedder φ of the identity loss and metric."""

    embedder: str = _field(
        "dlib_resnet", "dlib_resnet: dlib's descriptor ported to Keras (needs the `faces` "
        "extra); none: no identity term.",
        ("none", "dlib_resnet"),
    )
    model_path: str | None = _field(
        None, "dlib .dat file; None = the one shipped by face-recognition-models."
    )


@dataclass
class OptimizerConfig:
    """Adam for both nets (DESIGN.md §4)."""

    generator_lr: float = _field(1e-4, "Generator Adam learning rate (GANimation: 1e-4).")
    critic_lr: float = _field(1e-4, "Critic Adam learning rate (GANimation: 1e-4).")
    beta_1: float = _field(0.5, "Adam β1 (GANimation: 0.5).")
    beta_2: float = _field(0.999, "Adam β2 (GANimation: 0.999).")
    decay_epochs: int = _field(20, "Linear decay of the lr to 0 over the last N epochs.")


@dataclass
class DataConfig:
    """Where faces and their AUs come from, and the input pipeline."""

    format: str = _field(
        "synthetic", "synthetic: rendered on the fly into data.path (or the run dir); "
        "openface | ganimation | manifest | tfrecord: a dataset at data.path.",
        DATA_FORMATS,
    )
    path: str | None = _field(None, "Dataset folder, CSV manifest or TFRecord folder/glob.")
    synthetic_count: int = _field(4000, "synthetic: faces to render for training.")
    synthetic_seed: int = _field(0, "synthetic: seed of the rendered dataset.")
    flip: bool = _field(True, "Random horizontal flip (AU labels are symmetric).")
    jitter_px: int = _field(
        0, "Shift training faces by up to this many pixels (mirrored edges). With aligned "
        "faces at one position the critic reads expressions from absolute position, and "
        "a generator then learns a global shift to fool it; 0 = off (the paper)."
    )
    target_noise: float = _field(0.1, "U(−n, n) noise added to sampled target AUs (GANimation).")
    shuffle_buffer: int = _field(2048, "tf.data shuffle buffer size.")
    min_confidence: float = _field(0.0, "Skip OpenFace rows whose confidence is below this.")
    strict: bool = _field(False, "Bad AU rows are an error instead of skipped and reported.")


@dataclass
class TrainConfig:
    """Schedule, distribution and bookkeeping of a training run (DESIGN.md §4)."""

    batch_size: int = _field(25, "Global batch size (paper: 25).")
    epochs: int = _field(40, "Epochs of generator steps over the data (paper: 40).")
    n_critic: int = _field(10, "Critic steps per generator step (paper: 10).")
    critic_warmup: int = _field(
        0, "Critic updates of AU regression alone, on real faces, before adversarial training "
        "starts (0 = none, the paper). Short runs need it: the generator's AU loss only "
        "falls once the critic's AU head reads expressions (shared/notes/"
        "quickstart_feasibility.md)."
    )
    diff_augment: bool = _field(
        False, "Show the critic DiffAugment'd faces (colour, then a shift of up to 1/8 of the "
        "side), real and generated, in every update: against a critic AU head that fits a "
        "small training set (defgan_tf/ops/augment.py). On the synthetic faces it made the "
        "head and the edits worse (docs/tuning.md); False = the paper."
    )
    max_steps: int | None = _field(None, "Stop after this many generator steps (smoke tests).")
    max_minutes: float | None = _field(
        None, "Stop (with a checkpoint) once training has run this long; None = no limit."
    )
    strategy: str = _field(
        "default", "tf.distribute strategy.", ("default", "mirrored", "multi_worker", "tpu")
    )
    tpu: str | None = _field(None, "TPU address for strategy=tpu (None = local/auto).")
    mixed_precision: str = _field(
        "none", "Keras mixed-precision policy.", ("none", "mixed_float16", "mixed_bfloat16")
    )
    seed: int = _field(0, "Seed for weights, data order and target sampling.")
    deterministic: bool = _field(False, "Enable TF deterministic ops (resume tests).")
    checkpoint_every: int = _field(500, "Write a checkpoint every N generator steps.")
    keep_checkpoints: int = _field(3, "Checkpoints kept (oldest deleted).")
    log_every: int = _field(10, "Write scalars every N generator steps.")
    sample_every: int = _field(500, "Write an image grid every N generator steps.")
    eval_every: int = _field(
        0, "Synthetic data: every N steps log flow error, edit concentration and pixel error "
        "against the true edit on 8 held-out identities (TensorBoard eval/); 0 = off."
    )


@dataclass
class ExportConfig:
    """SavedModel/TFLite export settings."""

    use_ema: bool = _field(True, "Export EMA generator weights when the run kept them.")
    representative_samples: int = _field(64, "Faces used to calibrate int8 quantisation.")


@dataclass
class Config:
    """The whole configuration of a run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    deformation: DeformationConfig = field(default_factory=DeformationConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """A short stable hash of the resolved config (stored in exports' metadata).

        `data.path` is left out: a run records its dataset relative to itself and each
        command resolves it from where it runs, so the same run read as `runs/q` and as
        `/home/me/runs/q` must hash alike.
        """
        settings = self.to_dict()
        settings["data"].pop("path", None)
        text = json.dumps(settings, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


_SECTION_TYPES: dict[str, type] = {
    "model": ModelConfig, "deformation": DeformationConfig, "losses": LossConfig,
    "identity": IdentityConfig, "optimizer": OptimizerConfig, "data": DataConfig,
    "train": TrainConfig, "export": ExportConfig,
}


# ----------------------------------------------------------------------------- YAML with lines


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader that remembers the line of every mapping key (for error messages)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    """PyYAML keeps the last of two equal keys; a config that names a section or key twice
    would then drop the first silently, so that is an error naming both lines."""
    lines: dict[Any, int] = {}
    for key_node, _ in node.value:
        line = key_node.start_mark.line + 1
        if key_node.value in lines:
            raise yaml.constructor.ConstructorError(
                None, None, f"'{key_node.value}' appears twice (lines {lines[key_node.value]} "
                f"and {line}); merge the two", key_node.start_mark)
        lines[key_node.value] = line
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__lines__"] = lines
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _where(source: str, line: int | None) -> str:
    return f"{source}:{line}" if line else source


def did_you_mean(name: str, valid: Sequence[str], cutoff: float = 0.6) -> str:
    """Returns ' Did you mean X?' for the valid name closest to a mistyped one, else ''.

    Every "unknown name" error in the package ends with it, so they read alike.
    `cutoff` is difflib's similarity threshold (0–1): below it, no suggestion.
    """
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=cutoff)
    return f" Did you mean {close[0]}?" if close else ""


# ----------------------------------------------------------------------------- types

# A decimal number with an optional exponent: what YAML 1.2 reads as a float.
_FLOAT_LITERAL = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _coerce(value: Any, annotation: Any, key: str, where: str, choices: Any) -> Any:
    """Checks `value` against a field's annotation; ints are accepted where floats are.

    PyYAML reads YAML 1.1, where `1e-4` (no dot in the mantissa) is a string, not a
    float; people write learning rates that way, so a float field takes such a
    string when it spells a number (`1e-4`, `+2E3`), and nothing looser.
    """
    hint = annotation
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0]
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: {key} must not be empty (null). Received: {key}=None")
    if hint is float and isinstance(value, str) and _FLOAT_LITERAL.fullmatch(value.strip()):
        value = float(value)
    ok = (
        (hint is bool and isinstance(value, bool))
        or (hint is int and isinstance(value, int) and not isinstance(value, bool))
        or (hint is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (hint is str and isinstance(value, str))
    )
    if not ok:
        raise ConfigError(
            f"{where}: {key} must be {'null or ' if optional else ''}{hint.__name__}. "
            f"Received: {key}={value!r} ({type(value).__name__})"
        )
    if hint is float:
        value = float(value)
        if not math.isfinite(value):  # YAML's .inf / .nan: no key means "unbounded" by it
            raise ConfigError(f"{where}: {key} must be a finite number. "
                              f"Received: {key}={value!r}")
    if choices and value not in choices:
        raise ConfigError(
            f"{where}: {key} must be one of {', '.join(map(str, choices))}. "
            f"Received: {key}={value!r}.{did_you_mean(value, choices)}"
        )
    return value


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _all_keys() -> list[str]:
    return [
        f"{section}.{f.name}"
        for section, cls in _SECTION_TYPES.items()
        for f in dataclasses.fields(cls)
    ]


def _check_section(section: str, where: str) -> None:
    if section not in _SECTION_TYPES:
        raise ConfigError(
            f"{where}: unknown config section '{section}'."
            f"{did_you_mean(section, list(_SECTION_TYPES))} Valid sections: "
            f"{', '.join(_SECTION_TYPES)}."
        )


def _set(config: Config, section: str, key: str, value: Any, where: str) -> None:
    full = f"{section}.{key}"
    _check_section(section, where)
    cls = _SECTION_TYPES[section]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if key not in fields:
        raise ConfigError(
            f"{where}: unknown config key '{full}'.{did_you_mean(full, _all_keys())}"
        )
    hints = _type_hints(cls)
    value = _coerce(value, hints[key], full, where, fields[key].metadata.get("choices"))
    setattr(getattr(config, section), key, value)


# ----------------------------------------------------------------------------- loading


def _apply_mapping(config: Config, data: Any, source: str) -> None:
    if data is None:
        return
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a config file must be a mapping of sections, got "
                          f"{type(data).__name__}.")
    lines = data.pop("__lines__", {})
    for section, body in data.items():
        where = _where(source, lines.get(section))
        _check_section(section, where)
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: section '{section}' must be a mapping of keys.")
        body_lines = body.pop("__lines__", {})
        for key, value in body.items():
            if isinstance(value, dict):
                value.pop("__lines__", None)
            _set(config, section, key, value, _where(source, body_lines.get(key)))


def _apply_override(config: Config, override: str) -> None:
    where = f"--set {override}"
    if "=" not in override or "." not in override.split("=", 1)[0]:
        raise ConfigError(f"{where}: an override must look like section.key=value, "
                          "e.g. losses.lambda_cyc=5.")
    name, raw = override.split("=", 1)
    section, key = name.strip().split(".", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(f"{where}: cannot parse the value: {error}") from None
    if value is not None and not isinstance(value, str) and _is_text_field(section, key):
        value = raw.strip()  # a folder named 2024 or 0755 is text, not YAML's int
    _set(config, section, key, value, where)


def _is_text_field(section: str, key: str) -> bool:
    cls = _SECTION_TYPES.get(section)
    if cls is None or key not in {f.name for f in dataclasses.fields(cls)}:
        return False  # _set names the unknown section or key
    hint = _type_hints(cls)[key]
    return hint is str or str in typing.get_args(hint)


def _resolve(config: Config) -> None:
    """Fills the None defaults that depend on other fields (documented per field)."""
    m, d, losses = config.model, config.deformation, config.losses
    if m.deformation_width is None:
        m.deformation_width = m.generator_width
    if m.critic_n_down is None and m.image_size >= 4 and _is_power_of_two(m.image_size):
        m.critic_n_down = int(math.log2(m.image_size)) - 1
    if d.max_offset_px is None:
        d.max_offset_px = 5.0 * m.image_size / 128.0
    if losses.lambda_exp is None and config.train.batch_size >= 1:
        losses.lambda_exp = 4000.0 / config.train.batch_size
    if losses.lambda_au is None and losses.lambda_exp is not None:
        losses.lambda_au = losses.lambda_exp


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def validate(config: Config) -> None:
    """Range checks that would otherwise surface as crashes deep inside training."""
    m, t = config.model, config.train
    _check(m.image_size >= 16, f"model.image_size must be ≥ 16. Received: {m.image_size}")
    _check(
        m.image_size % (2**m.n_down) == 0,
        f"model.image_size must be a multiple of 2^model.n_down = {2**m.n_down}. "
        f"Received: model.image_size={m.image_size}, model.n_down={m.n_down}",
    )
    for name in ("generator_width", "deformation_width", "critic_width", "stem_kernel",
                 "head_kernel"):
        value = getattr(m, name)
        _check(value >= 1, f"model.{name} must be ≥ 1. Received: {value}")
    _check(m.n_res >= 0 and m.n_down >= 0, f"model.n_res and model.n_down must be ≥ 0. "
           f"Received: n_res={m.n_res}, n_down={m.n_down}")
    _check(
        m.critic_n_down is not None and m.critic_n_down >= 1
        and m.image_size % (2**m.critic_n_down) == 0,
        f"model.critic_n_down must be ≥ 1 with image_size divisible by 2^critic_n_down. "
        f"Received: critic_n_down={m.critic_n_down}, image_size={m.image_size}",
    )
    _check(0.0 <= m.ema_decay < 1.0, f"model.ema_decay must be in [0, 1). Received: {m.ema_decay}")
    _check(m.init_std > 0, f"model.init_std must be > 0. Received: {m.init_std}")
    _check(m.deformation_head != "per_au" or m.deformation_sees_source,
           "model.deformation_head=per_au combines its fields by target − source AUs, so it "
           "needs model.deformation_sees_source=true. Received: deformation_sees_source=false")
    d = config.deformation
    _check(d.max_offset_px > 0, f"deformation.max_offset_px must be > 0. "
           f"Received: {d.max_offset_px}")
    _check(d.integral_k > 0, f"deformation.integral_k must be > 0. Received: {d.integral_k}")
    for f in dataclasses.fields(LossConfig):
        value = getattr(config.losses, f.name)
        if isinstance(value, float):
            _check(value >= 0, f"losses.{f.name} must be ≥ 0. Received: {value}")
    trains = config.losses.edit_expression_trains
    _check(m.mode != "deformation_only" or trains == "generators",
           f"losses.edit_expression_trains={trains} needs the texture generator, which "
           "model.mode=deformation_only does not have.")
    _check(config.losses.deformation_scale_px > 0, "losses.deformation_scale_px must be > 0. "
           f"Received: {config.losses.deformation_scale_px}")
    _check(config.losses.au_calibration_faces >= 16, "losses.au_calibration_faces must be "
           f"≥ 16. Received: {config.losses.au_calibration_faces}")
    o = config.optimizer
    _check(o.generator_lr > 0 and o.critic_lr > 0,
           f"optimizer learning rates must be > 0. Received: generator_lr={o.generator_lr}, "
           f"critic_lr={o.critic_lr}")
    _check(0 <= o.beta_1 < 1 and 0 <= o.beta_2 < 1,
           f"optimizer.beta_1/beta_2 must be in [0, 1). Received: {o.beta_1}, {o.beta_2}")
    _check(0 <= o.decay_epochs <= t.epochs,
           f"optimizer.decay_epochs must be in [0, train.epochs={t.epochs}]. "
           f"Received: {o.decay_epochs}")
    data = config.data
    _check(data.format == "synthetic" or data.path is not None,
           f"data.path is required for data.format={data.format}.")
    _check(data.synthetic_count >= 1, f"data.synthetic_count must be ≥ 1. "
           f"Received: {data.synthetic_count}")
    _check(0 <= data.jitter_px < config.model.image_size // 4,
           f"data.jitter_px must be in [0, image_size / 4). Received: {data.jitter_px}")
    _check(data.target_noise >= 0, f"data.target_noise must be ≥ 0. Received: {data.target_noise}")
    _check(data.shuffle_buffer >= 1, f"data.shuffle_buffer must be ≥ 1. "
           f"Received: {data.shuffle_buffer}")
    for name in ("batch_size", "epochs", "n_critic", "checkpoint_every", "keep_checkpoints",
                 "log_every", "sample_every"):
        value = getattr(t, name)
        _check(value >= 1, f"train.{name} must be ≥ 1. Received: {value}")
    for name, seed in (("data.synthetic_seed", data.synthetic_seed), ("train.seed", t.seed)):
        _check(0 <= seed < 2**32, f"{name} must be in [0, 2^32) (NumPy's seed range). "
               f"Received: {seed}")
    _check(t.max_steps is None or t.max_steps >= 1,
           f"train.max_steps must be ≥ 1 or null. Received: {t.max_steps}")
    _check(t.critic_warmup >= 0,
           f"train.critic_warmup must be ≥ 0. Received: {t.critic_warmup}")
    _check(t.eval_every >= 0, f"train.eval_every must be ≥ 0. Received: {t.eval_every}")
    _check(t.max_minutes is None or t.max_minutes > 0,
           f"train.max_minutes must be > 0 or null. Received: {t.max_minutes}")
    _check(config.export.representative_samples >= 1,
           "export.representative_samples must be ≥ 1.")


def config_from_dict(data: dict[str, Any], source: str = "<dict>") -> Config:
    """Builds, resolves and validates a Config from a plain nested mapping."""
    config = Config()
    _apply_mapping(config, _copy_mapping(data), source)
    _resolve(config)
    validate(config)
    return config


def _copy_mapping(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _copy_mapping(v) for k, v in data.items()}
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Loads a YAML config, applies `section.key=value` overrides, resolves and validates it.

    Args:
        path: a YAML file; None starts from the defaults (the paper setting).
        overrides: strings like "losses.lambda_cyc=5"; values are parsed as YAML scalars.

    Returns:
        A fully resolved Config (no None left where a default depends on other fields).

    Raises:
        ConfigError: naming the file and line (or the override), the key and a suggestion.
    """
    config = Config()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        except UnicodeDecodeError as error:
            raise ConfigError(f"{path}: not a UTF-8 text file ({error.reason} at byte "
                              f"{error.start})") from None
        _apply_mapping(config, data, str(path))
    for override in overrides or []:
        _apply_override(config, override)
    _resolve(config)
    validate(config)
    return config


def save_config(config: Config, path: str | Path) -> None:
    """Writes the resolved config as YAML (into a run directory), atomically."""
    files.write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def describe() -> str:
    """A Markdown reference of every key, its default and its description (docs/config.md).

    `python -m defgan_tf.config > docs/config.md` regenerates the page; a test checks it.
    """
    lines = ["# Configuration reference", "",
             "Generated by `python -m defgan_tf.config > docs/config.md`. Override any key "
             "with `--set section.key=value`: the value is read as a YAML scalar (`null`, "
             "`true`, `5`, `2e-4`), except that a text key keeps what follows `=` as written "
             "(`--set data.path=2024` is the folder `2024`). A key or section given twice in "
             "one file is an error.", ""]
    for section, cls in _SECTION_TYPES.items():
        lines.append(f"## `{section}`\n\n{cls.__doc__}\n")
        lines.append("| key | default | description |\n|---|---|---|")
        for f in dataclasses.fields(cls):
            choices = f.metadata.get("choices")
            doc = f.metadata["doc"] + (f" One of: {', '.join(choices)}." if choices else "")
            lines.append(f"| `{section}.{f.name}` | `{f.default!r}` | {doc} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe(), end="")
