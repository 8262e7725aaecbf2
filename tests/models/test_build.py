"""Loading a run: corrupt checkpoint files, model parts the config lacks, data paths."""

import os
import shutil
from pathlib import Path

import pytest
import tensorflow as tf

from defgan_tf.config import ConfigError, load_config
from defgan_tf.models import build_defgan, load_run
from defgan_tf.models.build import (
    CONFIG_FILE,
    checkpoint_objects,
    load_run_config,
    resolve_run_path,
    save_run_config,
)

DATA_FILE = "ckpt-5.data-00000-of-00001"


def write_fake_run(run_dir: Path, overrides: list[str]) -> Path:
    """A run directory with an untrained model's checkpoint at step 5 (no training)."""
    config = load_config(None, overrides)
    model = build_defgan(config, with_embedder=False)
    save_run_config(config, run_dir)
    step = tf.Variable(5, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(step=step, **checkpoint_objects(model))
    tf.train.CheckpointManager(checkpoint, str(run_dir / "checkpoints"), 3).save(5)
    return run_dir


@pytest.fixture(scope="module")
def ema_run_dir(tmp_path_factory, tiny_config_overrides):
    """A `defgan`-mode run that keeps a moving average (model.ema_decay: 0.9)."""
    return write_fake_run(tmp_path_factory.mktemp("ema_run"),
                          [*tiny_config_overrides, "model.ema_decay=0.9"])


@pytest.fixture
def run_copy(ema_run_dir, tmp_path):
    return Path(shutil.copytree(ema_run_dir, tmp_path / "run"))


def edit_config(run_dir: Path, *changes: tuple[str, str]) -> None:
    text = (run_dir / CONFIG_FILE).read_text()
    for old, new in changes:
        assert old in text
        text = text.replace(old, new)
    (run_dir / CONFIG_FILE).write_text(text)


@pytest.mark.parametrize("size", [1000, 0], ids=["truncated", "empty"])
def test_a_short_data_file_is_named_as_truncated(run_copy, size):
    data_file = run_copy / "checkpoints" / DATA_FILE
    os.truncate(data_file, size)
    with pytest.raises(ConfigError) as error:
        load_run(run_copy)
    assert str(error.value) == (
        f"checkpoint file {data_file} is truncated or corrupt (Read less bytes than "
        "requested). Restore it from a copy (the run keeps no earlier checkpoint).")


def test_a_damaged_variable_in_the_data_file_is_named_as_corrupt(run_copy):
    """Truncation already cuts the object graph, which is stored last; a damaged byte
    earlier in the file is found by its checksum when the variables are restored."""
    data_file = run_copy / "checkpoints" / DATA_FILE
    data = bytearray(data_file.read_bytes())
    data[5000] ^= 0xFF
    data_file.write_bytes(bytes(data))
    with pytest.raises(ConfigError) as error:
        load_run(run_copy)
    message = str(error.value)
    assert message.startswith(f"checkpoint file {data_file} is truncated or corrupt "
                              f"(TensorBundle at {run_copy / 'checkpoints' / 'ckpt-5'} shard 0")
    assert "Checksum does not match" in message
    assert message.endswith(". Restore it from a copy (the run keeps no earlier checkpoint).")


def test_a_truncated_index_is_named_and_earlier_checkpoints_are_offered(run_copy):
    checkpoints = run_copy / "checkpoints"
    for file in checkpoints.glob("ckpt-5.*"):
        shutil.copy(file, checkpoints / file.name.replace("ckpt-5", "ckpt-4"))
    (checkpoints / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-5"\nall_model_checkpoint_paths: "ckpt-4"\n'
        'all_model_checkpoint_paths: "ckpt-5"\n')
    os.truncate(checkpoints / "ckpt-5.index", 1000)
    with pytest.raises(ConfigError) as error:
        load_run(run_copy)
    assert str(error.value) == (
        f"checkpoint file {checkpoints / 'ckpt-5.index'} is truncated or corrupt (not an "
        "sstable (bad magic number)). Restore it from a copy, or make an earlier checkpoint "
        f"current by naming it in model_checkpoint_path of {checkpoints / 'checkpoint'} "
        "(kept: ckpt-4).")
    (checkpoints / "checkpoint").write_text('model_checkpoint_path: "ckpt-4"\n')
    assert load_run(run_copy)[1].mode == "defgan"  # as the message says


@pytest.mark.parametrize("changes, parts", [
    ([("mode: defgan", "mode: texture_only"), ("ema_decay: 0.9", "ema_decay: 0.0")],
     "a deformation generator (model.mode=texture_only) and the generators' moving "
     "average (model.ema_decay=0.0)"),
    ([("mode: defgan", "mode: texture_only")],  # its averages are the generator's
     "a deformation generator (model.mode=texture_only)"),
    ([("ema_decay: 0.9", "ema_decay: 0.0")],
     "the generators' moving average (model.ema_decay=0.0)"),
    ([("n_res: 1", "n_res: 0")],
     "24 variables of other layers (such as deformation_generator/trunk/res0/conv/kernel)"),
], ids=["texture_only_without_average", "texture_only", "without_average", "fewer_layers"])
def test_model_variables_the_config_does_not_build_are_an_error(run_copy, changes, parts):
    edit_config(run_copy, *changes)
    with pytest.raises(ConfigError) as error:
        load_run(run_copy)
    assert str(error.value) == (
        f"{run_copy / 'checkpoints' / 'ckpt-5'} holds {parts} that this config does not "
        "build; restoring it would silently drop them. Use the model settings it was "
        "trained with (config.yaml of its run, no --set model.* changes on --resume), or "
        "start a new run.")


def test_the_model_loads_without_the_optimizers_a_training_checkpoint_holds(tiny_run_dir):
    """Extra objects outside the model's variables (optimizers, iterator) are fine."""
    reader = tf.train.load_checkpoint(str(tiny_run_dir / "checkpoints" / "ckpt-3"))
    assert any(key.startswith("g_optimizer/") for key in reader.get_variable_to_shape_map())
    _, model = load_run(tiny_run_dir)
    assert model.mode == "defgan"


def test_a_run_dataset_is_recorded_relative_to_the_run_and_found_from_anywhere(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "q" / "data").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    config = load_config(None, ["data.path=runs/q/data"])
    save_run_config(config, Path("runs/q"))
    assert "  path: data\n" in (tmp_path / "runs" / "q" / CONFIG_FILE).read_text()
    assert load_run_config("runs/q").data.path == "runs/q/data"
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert load_run_config(tmp_path / "runs" / "q").data.path == str(
        tmp_path / "runs" / "q" / "data")
    (tmp_path / "runs" / "q").rename(tmp_path / "moved")
    assert load_run_config(tmp_path / "moved").data.path == str(tmp_path / "moved" / "data")
    # A data.path given on the command line is the caller's, from the working directory.
    overridden = load_run_config(tmp_path / "moved", ["data.path=mine"])
    assert overridden.data.path == "mine"


def test_a_dataset_outside_the_run_is_recorded_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(None, ["data.path=faces"])
    save_run_config(config, tmp_path / "run")
    assert f"  path: {tmp_path / 'faces'}\n" in (tmp_path / "run" / CONFIG_FILE).read_text()
    assert config.data.path == "faces"  # the caller's config is left as it was


def test_older_runs_with_working_directory_paths_still_find_their_data(tmp_path, monkeypatch):
    (tmp_path / "runs" / "q" / "data").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)  # where the old run was trained: its path works as it is
    assert resolve_run_path("runs/q", "runs/q/data") == "runs/q/data"
    monkeypatch.chdir(tmp_path / "runs")  # elsewhere: the path's tail inside the run
    assert resolve_run_path(tmp_path / "runs" / "q", "runs/q/data") == str(
        tmp_path / "runs" / "q" / "data")
    # Nothing anywhere yet: inside the run, where training renders synthetic data.
    assert resolve_run_path("runs/new", "data") == os.path.join("runs", "new", "data")
    assert resolve_run_path("runs/q", "/abs/faces") == "/abs/faces"


def test_a_loaded_run_reads_its_dataset_from_another_working_directory(
        tmp_path, monkeypatch, tiny_data_dir, tiny_config_overrides):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_data_dir, run_dir / "data")
    monkeypatch.chdir(tmp_path)
    write_fake_run(Path("run"), [*tiny_config_overrides, "data.path=run/data"])
    monkeypatch.chdir(tmp_path / "run" / "checkpoints")
    config, _ = load_run(run_dir)
    assert config.data.path == str(run_dir / "data")
    assert (Path(config.data.path) / "synthetic.json").is_file()
