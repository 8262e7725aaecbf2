"""Config loading, overrides, resolution and every user-facing error."""

from pathlib import Path

import pytest

from defgan_tf.config import ConfigError, config_from_dict, describe, load_config, save_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_resolve_from_the_paper_setting():
    config = load_config()
    assert config.model.image_size == 128
    assert config.model.critic_n_down == 6  # log2(128) − 1
    assert config.losses.lambda_exp == pytest.approx(160.0)  # 4000 / 25
    assert config.losses.lambda_au == config.losses.lambda_exp
    assert config.deformation.max_offset_px == pytest.approx(5.0)
    assert config.model.deformation_width == config.model.generator_width


def test_dependent_defaults_follow_overrides():
    config = load_config(overrides=["model.image_size=64", "train.batch_size=10"])
    assert config.model.critic_n_down == 5
    assert config.deformation.max_offset_px == pytest.approx(2.5)
    assert config.losses.lambda_exp == pytest.approx(400.0)


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_shipped_configs_load(name):
    load_config(CONFIGS / name)


def test_override_parses_yaml_scalars():
    config = load_config(overrides=["losses.lambda_cyc=5", "train.max_steps=3",
                                    "model.mode=texture_only", "data.flip=false",
                                    "train.max_steps=null"])
    assert config.losses.lambda_cyc == 5.0 and isinstance(config.losses.lambda_cyc, float)
    assert config.model.mode == "texture_only"
    assert config.data.flip is False
    assert config.train.max_steps is None


def test_exponent_without_a_dot_is_a_float_in_files_and_overrides(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-4 as the string "1e-4".
    path = write(tmp_path, "optimizer:\n  generator_lr: 1e-4\n")
    config = load_config(path, ["optimizer.critic_lr=4E-4", "losses.lambda_cyc=+2e1"])
    assert config.optimizer.generator_lr == 1e-4
    assert config.optimizer.critic_lr == 4e-4
    assert config.losses.lambda_cyc == 20.0
    with pytest.raises(ConfigError, match=r"optimizer.critic_lr must be float. "
                                          r"Received: optimizer.critic_lr='1e-4x' \(str\)"):
        load_config(overrides=["optimizer.critic_lr=1e-4x"])
    with pytest.raises(ConfigError, match="train.batch_size must be int"):
        load_config(overrides=["train.batch_size=1e1"])


def test_unknown_key_in_file_names_file_line_and_suggestion(tmp_path):
    path = write(tmp_path, "model:\n  image_size: 64\nlosses:\n  lamda_cyc: 3\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == (
        f"{path}:4: unknown config key 'losses.lamda_cyc'. Did you mean losses.lambda_cyc?")


def test_unknown_key_in_override_suggests():
    with pytest.raises(ConfigError, match=r"--set losses.lamda_cyc=3: unknown config key "
                                          r"'losses.lamda_cyc'. Did you mean losses.lambda_cyc\?"):
        load_config(overrides=["losses.lamda_cyc=3"])


def test_unknown_section_lists_sections(tmp_path):
    with pytest.raises(ConfigError, match=r":1: unknown config section 'modle'. "
                                          r"Did you mean model\? Valid sections: model, "):
        load_config(write(tmp_path, "modle:\n  image_size: 64\n"))


def test_wrong_type_is_reported_with_value(tmp_path):
    with pytest.raises(ConfigError, match=r":2: train.batch_size must be int. "
                                          r"Received: train.batch_size='big' \(str\)"):
        load_config(write(tmp_path, "train:\n  batch_size: big\n"))
    with pytest.raises(ConfigError, match=r"model.generator_width must be int. "
                                          r"Received: model.generator_width=2.5"):
        load_config(overrides=["model.generator_width=2.5"])


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_float_keys_must_be_finite(value):
    with pytest.raises(ConfigError, match=r"--set deformation.max_offset_px=.*: deformation."
                                          r"max_offset_px must be a finite number"):
        load_config(overrides=[f"deformation.max_offset_px={value}"])


def test_bool_is_not_an_int():
    with pytest.raises(ConfigError, match="train.n_critic must be int"):
        load_config(overrides=["train.n_critic=true"])


def test_choice_error_suggests_closest():
    with pytest.raises(ConfigError, match=r"model.mode must be one of defgan, texture_only, "
                                          r"deformation_only. Received: model.mode='texture'. "
                                          r"Did you mean texture_only\?"):
        load_config(overrides=["model.mode=texture"])


@pytest.mark.parametrize(("override", "message"), [
    ("losses.lambda_cyc=-1", "losses.lambda_cyc must be ≥ 0. Received: -1.0"),
    ("model.image_size=102", "model.image_size must be a multiple of 2^model.n_down = 4"),
    ("model.image_size=96", "model.critic_n_down must be ≥ 1 with image_size divisible"),
    ("train.batch_size=0", "train.batch_size must be ≥ 1. Received: 0"),
    ("optimizer.beta_1=1.5", "optimizer.beta_1/beta_2 must be in [0, 1)"),
    ("optimizer.decay_epochs=50", "optimizer.decay_epochs must be in [0, train.epochs=40]"),
    ("data.format=openface", "data.path is required for data.format=openface"),
    ("model.ema_decay=1.0", "model.ema_decay must be in [0, 1). Received: 1.0"),
    ("data.jitter_px=32", "data.jitter_px must be in [0, image_size / 4). Received: 32"),
    ("train.critic_warmup=-1", "train.critic_warmup must be ≥ 0. Received: -1"),
    ("losses.au_calibration_faces=8", "losses.au_calibration_faces must be ≥ 16. Received: 8"),
    ("losses.deformation_scale_px=0", "losses.deformation_scale_px must be > 0. Received: 0.0"),
    ("losses.au_target=calibrate", "losses.au_target must be one of labels, calibrated"),
])
def test_out_of_range_values_are_errors(override, message):
    with pytest.raises(ConfigError) as error:
        load_config(overrides=[override])
    assert message in str(error.value)


def test_per_au_deformation_head_needs_the_source_aus():
    with pytest.raises(ConfigError, match=r"deformation_head=per_au combines its fields by "
                       r"target − source AUs, so it needs model.deformation_sees_source=true"):
        load_config(overrides=["model.deformation_head=per_au",
                               "model.deformation_sees_source=false"])


@pytest.mark.parametrize("trains", ["texture", "color"])
def test_edit_expression_on_the_texture_branch_needs_a_texture_generator(trains):
    with pytest.raises(ConfigError, match=rf"losses.edit_expression_trains={trains} needs the "
                       r"texture generator, which model.mode=deformation_only does not have"):
        load_config(overrides=["model.mode=deformation_only",
                               f"losses.edit_expression_trains={trains}"])


def test_a_key_or_section_given_twice_names_both_lines(tmp_path):
    twice = write(tmp_path, "train:\n  batch_size: 8\nmodel:\n  image_size: 64\n"
                            "train:\n  max_steps: 100\n")
    with pytest.raises(ConfigError, match=r"not valid YAML: 'train' appears twice \(lines 1 "
                                          r"and 5\); merge the two"):
        load_config(twice)
    with pytest.raises(ConfigError, match=r"'n_res' appears twice \(lines 2 and 3\)"):
        load_config(write(tmp_path, "model:\n  n_res: 3\n  n_res: 4\n"))


def test_text_fields_take_an_override_as_written():
    config = load_config(overrides=["data.path=2024", "identity.model_path=0755"])
    assert config.data.path == "2024" and config.identity.model_path == "0755"
    assert load_config(overrides=["data.path=null"]).data.path is None
    with pytest.raises(ConfigError, match=r"model.mode must be one of .* Received: "
                                          r"model.mode='123'"):
        load_config(overrides=["model.mode=123"])


@pytest.mark.parametrize("key", ["train.seed", "data.synthetic_seed"])
@pytest.mark.parametrize("seed", [-1, 2**32])
def test_seeds_outside_numpys_range_are_errors(key, seed):
    with pytest.raises(ConfigError, match=rf"{key} must be in \[0, 2\^32\) \(NumPy's seed "
                                          rf"range\). Received: {seed}"):
        load_config(overrides=[f"{key}={seed}"])


def test_malformed_override():
    with pytest.raises(ConfigError, match="an override must look like section.key=value"):
        load_config(overrides=["lambda_cyc=3"])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "model: [unclosed\n"))
    with pytest.raises(ConfigError, match="must be a mapping of keys"):
        load_config(write(tmp_path, "model: 3\n"))
    binary = tmp_path / "latin1.yaml"
    binary.write_bytes("model:\n  image_size: 64  # größe\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.yaml: not a UTF-8 text file \(invalid "
                       r"start byte at byte 29\)"):
        load_config(binary)


def test_saved_config_round_trips_and_hash_is_stable(tmp_path):
    config = load_config(CONFIGS / "quickstart.yaml", ["losses.lambda_cyc=7"])
    save_config(config, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == config
    assert again.hash() == config.hash()
    assert load_config(CONFIGS / "quickstart.yaml").hash() != config.hash()


def test_config_from_dict_and_describe():
    config = config_from_dict({"model": {"image_size": 64}})
    assert config.model.critic_n_down == 5
    text = describe()
    assert "`losses.lambda_cyc`" in text and "GANimation: 10" in text


def test_docs_config_reference_is_current():
    docs = Path(__file__).resolve().parents[1] / "docs" / "config.md"
    assert docs.read_text() == describe(), "regenerate: python -m defgan_tf.config > docs/config.md"
