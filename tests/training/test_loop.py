"""The training loop: run directory, resume after kill -9, NaN stop, CLI errors."""

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from defgan_tf import losses
from defgan_tf.aus import PRESETS
from defgan_tf.config import ConfigError, load_config
from defgan_tf.data.readers import DatasetIndex, read_dataset
from defgan_tf.metrics import synthetic_edit_set
from defgan_tf.models import DefGAN, load_run
from defgan_tf.training import loop
from defgan_tf.training.loop import (
    EVAL_FACES,
    INTERRUPTED,
    NonFiniteLossError,
    Trainer,
    _checkpointed_step,
    hold_out_calibration_faces,
    prepare_data_dir,
)

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args, timeout=300, cwd=REPO):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "defgan_tf.train", "--no-progress", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def checkpoint_weights(run_dir):
    _, model = load_run(run_dir, use_ema=False)
    return {v.path: v.numpy() for v in model.weights}


def test_run_directory_holds_config_checkpoint_samples_and_logs(tiny_run_dir):
    assert (tiny_run_dir / "config.yaml").is_file()
    assert (tiny_run_dir / "checkpoints" / "ckpt-3.index").is_file()
    assert list((tiny_run_dir / "samples").glob("step_000003.png"))
    assert list((tiny_run_dir / "logs").glob("events.out.tfevents.*"))
    config, model = load_run(tiny_run_dir)
    assert config.model.image_size == 32 and model.mode == "defgan"
    # The restored generator is the trained one, not a fresh initialisation.
    head = model.deformation_generator.field_head.kernel.numpy()
    assert np.abs(head).max() > 0  # the field head starts at exactly zero


@pytest.mark.slow  # trains in a fresh process or several runs: 25–150 s on 2 cores
def test_periodic_evaluation_logs_ground_truth_metrics(tmp_path, tiny_config_overrides):
    config = load_config(None, [*tiny_config_overrides, "train.max_steps=1",
                                "train.eval_every=1"])
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer.run()
    scalars = trainer.write_eval(1)
    assert {"flow_error.epe_moved", "flow_error.offset_static", "concentration.share",
            "ground_truth.edited.changed_l1", "warp_parts.changed_l1.half",
            "warp_parts.changed_l1.true_warp_textured",
            "warp_parts.critic_au_mae.where_true_moves"} <= set(scalars)
    assert all(np.isfinite(v) for v in scalars.values())
    events = next((tmp_path / "run" / "logs").glob("events.out.tfevents.*"))
    tags = {v.tag for e in tf.compat.v1.train.summary_iterator(str(events))
            for v in e.summary.value}
    assert {"eval/flow_error.epe_moved", "eval/critic.au_mse_heldout"} <= tags
    # The critic's AU error on the held-out true renders, against their target AUs.
    edits = synthetic_edit_set(None, trainer.config.data.path, config.model.image_size,
                               PRESETS, faces=EVAL_FACES)
    _, predicted = trainer.model.critic(edits.targets)
    expected = np.mean((predicted.numpy() - edits.target_aus) ** 2)
    assert scalars["critic.au_mse_heldout"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow  # trains in a fresh process or several runs: 25–150 s on 2 cores
def test_critic_warmup_runs_before_the_first_step_and_is_logged(tmp_path,
                                                                  tiny_config_overrides):
    config = load_config(None, [*tiny_config_overrides, "train.max_steps=1",
                                "train.critic_warmup=5"])
    trainer = Trainer(config, tmp_path / "run", progress=False)
    calls = []
    warm_up = trainer.warm_up_critic
    trainer.warm_up_critic = lambda: calls.append(int(trainer.step.numpy())) or warm_up()
    result = trainer.run()
    assert calls == [0] and result.step == 1
    events = next((tmp_path / "run" / "logs").glob("events.out.tfevents.*"))
    warmup = {v.tag: float(tf.make_ndarray(v.tensor))
              for e in tf.compat.v1.train.summary_iterator(str(events))
              for v in e.summary.value if v.tag.startswith("warmup/")}
    assert set(warmup) == {"warmup/d_au_first", "warmup/d_au_last"}
    assert all(np.isfinite(list(warmup.values())))


def test_a_used_run_directory_needs_resume(tiny_run_dir, tiny_config_overrides):
    config = load_config(None, [*tiny_config_overrides, "train.max_steps=1"])
    with pytest.raises(ConfigError, match="already holds a run. Pass --resume"):
        Trainer(config, tiny_run_dir, progress=False)
    with pytest.raises(ConfigError, match="has no checkpoint to resume from"):
        Trainer(config, tiny_run_dir / "empty", resume=True, progress=False)


def synthetic_config(*overrides):
    return load_config(None, ["model.image_size=32", "data.synthetic_count=12", *overrides])


def test_synthetic_data_is_rendered_aside_and_renamed_into_place(tmp_path, monkeypatch):
    import defgan_tf.data.synthetic as synthetic

    config = prepare_data_dir(synthetic_config(), tmp_path)
    assert config.data.path == str(tmp_path / "data")
    assert len(read_dataset(config.data, split="all")) == 12
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no staging folder left
    # Another worker's copy lands first: ours is discarded, theirs kept.
    write_dataset = synthetic.write_dataset

    def render_beside_another_worker(out, **kwargs):
        write_dataset(out, **kwargs)
        shutil.copytree(out, tmp_path / "shared" / "data")

    monkeypatch.setattr(synthetic, "write_dataset", render_beside_another_worker)
    config = prepare_data_dir(synthetic_config(), tmp_path / "shared")
    assert len(read_dataset(config.data, split="all")) == 12
    assert [p.name for p in (tmp_path / "shared").iterdir()] == ["data"]

    # A crash mid-render leaves nothing a later run would take for a dataset.
    def crash(out, **kwargs):
        (Path(out) / "imgs").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "write_dataset", crash)
    with pytest.raises(KeyboardInterrupt):
        prepare_data_dir(synthetic_config(), tmp_path / "crashed")
    assert list((tmp_path / "crashed").iterdir()) == []


def test_rendering_shows_progress_unless_asked_not_to(tmp_path, capsys):
    prepare_data_dir(synthetic_config(), tmp_path / "shown")
    assert "synthetic faces" in capsys.readouterr().err
    prepare_data_dir(synthetic_config(), tmp_path / "quiet", progress=False)
    assert capsys.readouterr().err == ""


def test_a_foreign_data_folder_is_not_rendered_over(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"data.path .*data exists and is not a synthetic "
                       r"dataset \(no synthetic.json\)"):
        prepare_data_dir(synthetic_config(), tmp_path)
    assert (tmp_path / "data" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("change", [("n_res: 1", "n_res: 2"),  # variables the file lacks
                                    ("generator_width: 4", "generator_width: 8")],  # shapes
                         ids=["more_layers", "wider"])
def test_a_checkpoint_of_another_model_is_a_clear_error(tiny_run_dir, tmp_path, change):
    other = tmp_path / "other"
    shutil.copytree(tiny_run_dir, other)
    config_text = (other / "config.yaml").read_text()
    assert change[0] in config_text
    (other / "config.yaml").write_text(config_text.replace(*change))
    with pytest.raises(ConfigError, match="ckpt-3 does not hold the weights of the model its "
                       r"config.yaml describes \(model.image_size=32\)"):
        load_run(other)
    with pytest.raises(ConfigError, match=r"cannot resume from .*ckpt-3: it does not match"):
        Trainer(load_config(other / "config.yaml"), other, resume=True, progress=False)


def test_non_finite_loss_stops_naming_the_term_and_keeps_no_bad_checkpoint(
        tmp_path, tiny_config_overrides, monkeypatch):
    monkeypatch.setattr(losses, "cycle_loss", lambda a, b: tf.constant(np.nan))
    config = load_config(None, [*tiny_config_overrides, "train.max_steps=2"])
    trainer = Trainer(config, tmp_path / "run", progress=False)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step 1: g_loss, g_cyc = "
                                                 r"nan, nan. Training stopped; the last good "
                                                 r"checkpoint is none"):
        trainer.run()
    assert not list((tmp_path / "run" / "checkpoints").glob("ckpt-*"))


@pytest.mark.slow  # trains in a fresh process or several runs: 25–150 s on 2 cores
def test_calibrated_runs_hold_the_same_faces_out_of_training(tmp_path, tiny_config_overrides):
    config = load_config(None, [*tiny_config_overrides, "losses.au_target=calibrated",
                                "losses.au_calibration_faces=16", "train.max_steps=1"])
    index = read_dataset(config.data, split="train")
    kept, images, aus = hold_out_calibration_faces(config, index)
    again, _, _ = hold_out_calibration_faces(config, index)
    assert kept.paths == again.paths and len(kept) == len(index) - 16
    held = sorted(set(index.paths) - set(kept.paths))
    assert images.shape == (16, 32, 32, 3) and -1 <= images.min() < images.max() <= 1
    np.testing.assert_array_equal(aus, index.aus[[index.paths.index(p) for p in held]])
    trainer = Trainer(config, tmp_path / "run", progress=False)
    assert trainer.index.paths == kept.paths
    logs = trainer.run().last_logs
    assert 0.0 <= logs["g_au_slope"] <= 1.0
    records = DatasetIndex(paths=[], aus=np.zeros((0, 17)), shards=["a.tfrecord"],
                           num_records=100)
    with pytest.raises(ConfigError, match="needs an image-folder dataset"):
        hold_out_calibration_faces(config, records)
    too_many = load_config(None, [*tiny_config_overrides, "losses.au_target=calibrated",
                                  "losses.au_calibration_faces=30"])
    with pytest.raises(ConfigError, match="more than half"):
        hold_out_calibration_faces(too_many, index)


def test_cli_user_errors_exit_2_without_traceback(tmp_path):
    result = run_cli("--config", "configs/quickstart.yaml", "--out", str(tmp_path / "r"),
                     "--set", "losses.lamda_cyc=3")
    assert result.returncode == 2
    assert "Did you mean losses.lambda_cyc?" in result.stderr
    assert "Traceback" not in result.stderr


def test_tfrecords_whose_images_do_not_decode_are_one_line(tmp_path, capsys,
                                                            tiny_config_overrides):
    from defgan_tf import train
    from defgan_tf.data.tfrecord import write_metadata, write_shards

    corrupt = []
    for k in range(8):
        corrupt.append(tmp_path / f"{k}.png")
        corrupt[-1].write_bytes(b"not a png")
    records = str(tmp_path / "records")
    write_metadata(records, {"shards": write_shards(
        [str(p) for p in corrupt], np.zeros((8, 17), np.float32), records, "train", 1)})
    overrides = [o for o in tiny_config_overrides if not o.startswith("data.")]
    argv = ["--out", str(tmp_path / "run"), "--no-progress"]
    for override in [*overrides, "data.format=tfrecord", f"data.path={records}"]:
        argv += ["--set", override]
    assert train.main(argv) == 2
    assert capsys.readouterr().err == (
        f"error: the dataset at {records}: no image of split 'train' could be decoded. Check "
        "the files, or convert the dataset again with `defgan-data tfrecord` (it validates "
        "every image).\n")


def test_ctrl_c_before_the_first_step_exits_130_with_a_message(tmp_path, monkeypatch, capsys):
    from defgan_tf import train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # e.g. while the model is built or the data rendered

    monkeypatch.setattr(Trainer, "__init__", interrupted)
    assert train.main(["--config", "configs/quickstart.yaml", "--out", str(tmp_path)]) == 130
    assert capsys.readouterr().err == ("interrupted before the first training step: no "
                                       "checkpoint was written.\n")


@pytest.mark.slow  # trains in a fresh process or several runs: 25–150 s on 2 cores
def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path, tiny_config_overrides):
    run = tmp_path / "run"
    args = [a for o in [*tiny_config_overrides, "train.sample_every=1", "train.max_steps=500"]
            for a in ("--set", o)]
    process = subprocess.Popen(
        [sys.executable, "-m", "defgan_tf.train", "--no-progress", "--out", str(run), *args],
        cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    first_sample = run / "samples" / "step_000001.png"
    deadline = time.monotonic() + 240
    while not first_sample.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "stopped early (interrupted (Ctrl-C)) at step" in stderr
    assert "Traceback" not in stderr
    step = int(tf.train.latest_checkpoint(str(run / "checkpoints")).rsplit("-", 1)[1])
    assert 1 <= step < 500


@pytest.mark.slow  # trains in a fresh process or several runs: 25–150 s on 2 cores
def test_resume_after_kill_9_matches_a_straight_run(tmp_path, tiny_config_overrides):
    """Train, kill -9 after a checkpoint, --resume for 2 more steps == a straight run."""
    common = [a for o in [*tiny_config_overrides, "train.deterministic=true",
                          "train.checkpoint_every=2", "train.keep_checkpoints=2"]
              for a in ("--set", o)]
    killed = tmp_path / "killed"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "defgan_tf.train", "--no-progress", "--out", str(killed),
         *common, "--set", "train.max_steps=200"], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = killed / "checkpoints" / "checkpoint"
    deadline = time.monotonic() + 240
    while not state.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = int(tf.train.latest_checkpoint(str(killed / "checkpoints")).rsplit("-", 1)[1])
    assert 2 <= killed_at < 200
    resumed = run_cli("--out", str(killed), "--resume", "--set",
                      f"train.max_steps={killed_at + 2}")
    assert resumed.returncode == 0, resumed.stderr
    straight = run_cli("--out", str(tmp_path / "straight"), *common, "--set",
                       f"train.max_steps={killed_at + 2}")
    assert straight.returncode == 0, straight.stderr
    a, b = checkpoint_weights(killed), checkpoint_weights(tmp_path / "straight")
    assert a.keys() == b.keys() and len(a) > 20
    for name in a:
        # Deterministic ops: identical up to float32 rounding of re-ordered reductions.
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-6, err_msg=name)


def train_main(*argv):
    from defgan_tf import train

    return train.main([*argv, "--no-progress"])


def without_data(overrides):
    return [o for o in overrides if not o.startswith("data.")]


def test_an_out_that_is_a_file_is_one_error_line_before_any_work(tmp_path, capsys,
                                                                  monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("the run started working")

    monkeypatch.setattr(loop, "make_strategy", no_work)
    monkeypatch.setattr(loop, "prepare_data_dir", no_work)
    out = tmp_path / "notes.txt"
    out.write_text("mine")
    config = str(REPO / "configs" / "quickstart.yaml")
    assert train_main("--config", config, "--out", str(out)) == 2
    assert capsys.readouterr().err == (f"error: --out {out} is a file, not a run directory. "
                                       "Choose a new folder, or a run's folder with --resume.\n")
    assert train_main("--config", config, "--out", str(out / "run")) == 2
    assert capsys.readouterr().err == (f"error: --out {out / 'run'}: cannot create the run "
                                       "directory (Not a directory).\n")
    assert out.read_text() == "mine"


@pytest.fixture(scope="module")
def ema_run_dir(tmp_path_factory, tiny_config_overrides):
    """A tiny run trained for 1 step that keeps the generators' moving average."""
    run_dir = tmp_path_factory.mktemp("ema_run")
    config = load_config(None, [*tiny_config_overrides, "model.ema_decay=0.9",
                                "train.max_steps=1"])
    Trainer(config, run_dir, progress=False).run()
    return run_dir


@pytest.mark.parametrize("override, parts", [
    ("model.ema_decay=0", "the generators' moving average (model.ema_decay=0.0)"),
    ("model.mode=texture_only", "a deformation generator (model.mode=texture_only)"),
])
def test_resume_refuses_model_settings_that_would_drop_variables(ema_run_dir, capsys,
                                                                 override, parts):
    config_text = (ema_run_dir / "config.yaml").read_text()
    assert train_main("--out", str(ema_run_dir), "--resume", "--set", override,
                      "--set", "train.max_steps=2") == 2
    assert capsys.readouterr().err == (
        f"error: {ema_run_dir / 'checkpoints' / 'ckpt-1'} holds {parts} that this config does "
        "not build; restoring it would silently drop them. Use the model settings it was "
        "trained with (config.yaml of its run, no --set model.* changes on --resume), or "
        "start a new run.\n")
    assert (ema_run_dir / "config.yaml").read_text() == config_text  # not overwritten
    assert tf.train.latest_checkpoint(str(ema_run_dir / "checkpoints")).endswith("ckpt-1")


def test_resuming_a_truncated_checkpoint_is_one_error_line(tiny_run_dir, tmp_path, capsys):
    run_dir = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    data_file = run_dir / "checkpoints" / "ckpt-3.data-00000-of-00001"
    os.truncate(data_file, 1000)
    message = (f"checkpoint file {data_file} is truncated or corrupt (Read less bytes than "
               "requested). Restore it from a copy (the run keeps no earlier checkpoint).")
    assert train_main("--out", str(run_dir), "--resume", "--set", "train.max_steps=4") == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    # Multi-worker resumes read the step before anything else (their data position).
    with pytest.raises(ConfigError) as error:
        _checkpointed_step(str(run_dir / "checkpoints" / "ckpt-3"))
    assert str(error.value) == message


def test_a_run_resumes_in_a_process_that_built_other_optimizers_first(
        tiny_run_dir, tmp_path):
    """Optimizer variables are checkpointed by name; Keras numbers unnamed optimizers per
    process, so without fixed names a notebook's run and the command's would not match."""
    run_dir = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    for _ in range(2):  # as a notebook might have, before resuming
        keras.optimizers.Adam().build([keras.Variable(np.zeros(2))])
    config = load_config(run_dir / "config.yaml", ["train.max_steps=4"])
    result = Trainer(config, run_dir, resume=True, progress=False).run()
    assert result.step == 4 and stored_steps(run_dir) == (4, 4)
    keys = tf.train.load_checkpoint(str(run_dir / "checkpoints" / "ckpt-4")
                                    ).get_variable_to_shape_map()
    assert "d_optimizer/adam.Siteration/.ATTRIBUTES/VARIABLE_VALUE" in keys
    assert "g_optimizer/adam_1.Siteration/.ATTRIBUTES/VARIABLE_VALUE" in keys


@pytest.mark.slow  # trains in a fresh process or several runs: 25–150 s on 2 cores
def test_a_run_resumes_from_another_working_directory_with_its_own_data(
        tmp_path, tiny_config_overrides):
    # Fresh processes, as the command runs.
    overrides = [a for o in [*without_data(tiny_config_overrides), "data.synthetic_count=12"]
                 for a in ("--set", o)]
    started = run_cli("--out", "runs/q", *overrides, "--set", "train.max_steps=1",
                      cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    run_dir = tmp_path / "runs" / "q"
    assert "  path: data\n" in (run_dir / "config.yaml").read_text()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    resumed = run_cli("--out", str(run_dir), "--resume", "--set", "train.max_steps=2",
                      cwd=elsewhere)
    assert resumed.returncode == 0, resumed.stderr
    assert list(elsewhere.iterdir()) == []  # nothing rendered here
    assert tf.train.latest_checkpoint(str(run_dir / "checkpoints")).endswith("ckpt-2")
    assert "  path: data\n" in (run_dir / "config.yaml").read_text()


@pytest.mark.slow  # trains in a fresh process or several runs: 25–150 s on 2 cores
def test_periodic_evaluation_without_a_test_identity_is_off_from_the_start(
        tmp_path, caplog, tiny_config_overrides):
    config = load_config(None, [*without_data(tiny_config_overrides), "data.synthetic_count=8",
                                "train.eval_every=1", "train.max_steps=2"])
    with caplog.at_level(logging.WARNING, logger="defgan_tf.training.loop"):
        trainer = Trainer(config, tmp_path / "run", progress=False)
        result = trainer.run()
    assert result.step == 2 and result.stopped_early is None
    assert [r.getMessage() for r in caplog.records if r.name == "defgan_tf.training.loop"] == [
        f"train.eval_every=1: the synthetic dataset at {tmp_path / 'run' / 'data'} has no test "
        "identity to evaluate on (data.synthetic_count=8 faces are too few to hold one out), "
        "so this run skips the periodic evaluation. Raise data.synthetic_count to evaluate "
        "during training."]
    events = next((tmp_path / "run" / "logs").glob("events.out.tfevents.*"))
    tags = {v.tag for e in tf.compat.v1.train.summary_iterator(str(events))
            for v in e.summary.value}
    assert "losses/d_loss" in tags and not any(tag.startswith("eval/") for tag in tags)


def stored_steps(run_dir):
    """(step counter, generator updates) of a run's newest checkpoint."""
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(run_dir / "checkpoints")))
    [iterations] = [k for k in reader.get_variable_to_shape_map()
                    if k.startswith("g_optimizer/") and "iteration" in k]
    return (int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")),
            int(reader.get_tensor(iterations)))


@pytest.mark.slow  # trains in a fresh process or several runs: 25–150 s on 2 cores
def test_a_second_ctrl_c_right_after_an_update_checkpoints_the_step_it_made(
        tmp_path, tiny_config_overrides):
    config = load_config(None, [*tiny_config_overrides, "train.max_steps=5"])
    trainer = Trainer(config, tmp_path / "run", progress=False)
    train_function, calls = trainer._train_function, []

    def update_then_ctrl_c(iterator):
        train_function(iterator)
        calls.append(iterator)
        if len(calls) == 2:
            raise KeyboardInterrupt  # a second Ctrl-C just after the update returned

    trainer._train_function = update_then_ctrl_c
    result = trainer.run()
    assert result.stopped_early == INTERRUPTED and result.step == 2
    assert stored_steps(tmp_path / "run") == (2, 2)  # ckpt-2 holds step 2's weights


@pytest.mark.slow  # trains in a fresh process or several runs: 25–150 s on 2 cores
def test_a_second_ctrl_c_during_the_average_swap_saves_whole_trained_weights(
        tmp_path, tiny_config_overrides, monkeypatch):
    config = load_config(None, [*tiny_config_overrides, "model.ema_decay=0.9",
                                "train.sample_every=1", "train.max_steps=5"])
    trainer = Trainer(config, tmp_path / "run", progress=False)
    generator_variables, armed, trained = DefGAN.generator_variables, [], {}

    def ctrl_c_twice_halfway(variables):
        for i, variable in enumerate(variables):
            if i == len(variables) // 2:
                signal.raise_signal(signal.SIGINT)  # stop after this step
                signal.raise_signal(signal.SIGINT)  # no: abort at once
            yield variable

    def variables_of_a_swap(self):
        if armed:  # the next swap_ema: its zip() draws the variables one by one
            armed.clear()
            return ctrl_c_twice_halfway(generator_variables(self))
        return generator_variables(self)

    monkeypatch.setattr(DefGAN, "generator_variables", variables_of_a_swap)
    write_samples = trainer.write_samples

    def arm_at_step_2(step):
        if step == 2:
            trained.update({v.path: v.numpy() for v in trainer.model.weights})
            armed.append(True)
        return write_samples(step)

    trainer.write_samples = arm_at_step_2
    result = trainer.run()
    assert result.stopped_early == INTERRUPTED and result.step == 2 and not armed
    assert not trainer.model.holds_averages
    _, saved = load_run(tmp_path / "run", use_ema=False)
    assert {v.path for v in saved.weights} == set(trained)
    for variable in saved.weights:
        np.testing.assert_array_equal(variable.numpy(), trained[variable.path],
                                      err_msg=variable.path)


@pytest.mark.slow
def test_paper_config_builds_and_runs_one_step_at_128(tmp_path):
    """configs/paper.yaml as shipped (128², width 64, n_critic 10, dlib identity loss)."""
    pytest.importorskip("dlib", reason="the paper config's identity loss needs the faces extra")
    data = tmp_path / "data"
    from defgan_tf.data.synthetic import write_dataset

    write_dataset(data, count=260, size=128, seed=0, progress=False)
    config = load_config(REPO / "configs" / "paper.yaml",
                         ["data.format=synthetic", f"data.path={data}", "train.max_steps=1"])
    assert config.model.image_size == 128 and config.train.n_critic == 10
    result = Trainer(config, tmp_path / "run", progress=False).run()
    assert result.step == 1 and all(np.isfinite(v) for v in result.last_logs.values())
    assert "g_id" in result.last_logs
