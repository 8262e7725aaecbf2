"""tf.distribute: MirroredStrategy matches one device; two local workers stay in sync."""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}

MIRRORED_SCRIPT = textwrap.dedent("""
    import json
    import sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from defgan_tf.config import load_config
    from defgan_tf.models import DefGAN, build_defgan

    # Replicas draw other random numbers than one device does; fix the penalty's ε.
    DefGAN.mixing_weights = lambda self, batch: tf.fill([batch], 0.37)
    config = load_config(None, sys.argv[2:])
    n, b, s = config.train.n_critic, config.train.batch_size, config.model.image_size
    rng = np.random.default_rng(1)
    data = {"image": rng.uniform(-1, 1, (n, b, s, s, 3)).astype("float32"),
            "source_aus": rng.uniform(0, 1, (n, b, 17)).astype("float32"),
            "target_aus": rng.uniform(0, 1, (n, b, 17)).astype("float32")}

    def train(strategy):
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = build_defgan(config)
            model.compile(d_optimizer=keras.optimizers.Adam(1e-3),
                          g_optimizer=keras.optimizers.Adam(1e-3))
        replicas = strategy.num_replicas_in_sync
        def shard(context):
            i, per = context.replica_id_in_sync_group, b // replicas
            return {k: v[:, i * per:(i + 1) * per] for k, v in data.items()}
        values = strategy.experimental_distribute_values_from_function(shard)
        step = tf.function(lambda d: strategy.run(model.train_step, args=(d,)))
        for _ in range(2):
            step(values)
        logs = {m.name: float(m.result()) for m in model.metrics}
        return [v.numpy() for v in model.weights], logs

    single, single_logs = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
    mirrored, mirrored_logs = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    np.savez(sys.argv[1], *[a - b for a, b in zip(single, mirrored)],
             scale=max(float(np.abs(a).max()) for a in single))
    print("LOGS", json.dumps({k: (single_logs[k], mirrored_logs[k]) for k in single_logs}))
""")


def test_mirrored_two_replicas_give_the_single_device_update(tmp_path):
    """Tolerance 1e-4 after two Adam steps of lr 1e-3 (10 % of one step).

    The gradients are the same sums reduced in another order; Adam divides by the root of
    the squared gradient, so its first steps magnify rounding-level differences
    (measured: 2.6e-5).
    """
    out = tmp_path / "diff.npz"
    overrides = ["model.image_size=32", "model.generator_width=4", "model.n_res=1",
                 "model.critic_width=4", "identity.embedder=none", "train.batch_size=4",
                 "train.n_critic=2"]
    result = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, str(out), *overrides],
                            env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    diffs = np.load(out)
    worst = max(float(np.abs(diffs[k]).max()) for k in diffs.files if k != "scale")
    assert worst < 1e-4, worst
    logs = json.loads(result.stdout.split("LOGS", 1)[1])
    for name, (single, mirrored) in logs.items():
        if name.endswith("grad_norm"):
            continue  # each replica's norm of its own half-batch gradient, by design
        assert abs(single - mirrored) <= 1e-3 * max(1.0, abs(single)), name


WORKER_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from defgan_tf.config import load_config
    from defgan_tf.training.loop import Trainer

    out, run_dir, resume = sys.argv[1], sys.argv[2], sys.argv[3] == "resume"
    trainer = Trainer(load_config(None, sys.argv[4:]), run_dir, resume=resume, progress=False)
    print("SKIP", trainer.skip_batches)
    trainer.run()
    np.savez(out, *[v.numpy() for v in trainer.model.weights])
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_workers(tmp_path, run_dirs, overrides, tag, resume=False) -> list[str]:
    """Runs two local workers (TF_CONFIG on 127.0.0.1); returns their stdout."""
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    processes = []
    for index, run_dir in enumerate(run_dirs):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        processes.append(subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, str(tmp_path / f"{tag}{index}.npz"),
             str(run_dir), "resume" if resume else "new", *overrides],
            env={**ENV, "TF_CONFIG": tf_config}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    outputs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
        outputs.append(stdout)
    first, second = np.load(tmp_path / f"{tag}0.npz"), np.load(tmp_path / f"{tag}1.npz")
    assert len(first.files) > 20
    for name in first.files:
        np.testing.assert_array_equal(first[name], second[name])
    return outputs


def test_two_local_workers_end_with_identical_weights_and_resume(tmp_path,
                                                                 tiny_config_overrides):
    """Each worker with its own run directory (nodes without a shared file system)."""
    overrides = [*tiny_config_overrides, "train.strategy=multi_worker"]
    run_dirs = [tmp_path / "run0", tmp_path / "run1"]
    run_workers(tmp_path, run_dirs, [*overrides, "train.max_steps=3"], "first")
    # Only the chief (worker 0) writes the run directory.
    assert (tmp_path / "run0" / "checkpoints" / "ckpt-3.index").is_file()
    assert not (tmp_path / "run1" / "checkpoints").exists()
    assert not list((tmp_path / "run1" / "logs").glob("*"))
    # Multi-worker data iterators cannot be checkpointed: a resumed run skips the three
    # steps' batches it already read, and both workers resume from the chief's checkpoint
    # (worker 1 reads its copy of run0's).
    shutil.copytree(tmp_path / "run0" / "checkpoints", tmp_path / "run1" / "checkpoints")
    outputs = run_workers(tmp_path, run_dirs, [*overrides, "train.max_steps=5"], "resumed",
                          resume=True)
    assert all("SKIP 3" in out for out in outputs), outputs
    assert (tmp_path / "run0" / "checkpoints" / "ckpt-5.index").is_file()


def test_two_local_workers_share_one_run_directory(tmp_path, tiny_config_overrides):
    """One run directory for both (a shared file system, e.g. gs://), data rendered by both."""
    overrides = [o for o in tiny_config_overrides if not o.startswith("data.path=")]
    overrides += ["train.strategy=multi_worker", "train.max_steps=2"]
    run = tmp_path / "run"
    run_workers(tmp_path, [run, run], overrides, "shared")
    # Both rendered the synthetic faces; one copy was renamed into place, the other dropped.
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoints", "config.yaml", "data", "logs", "samples"]
    assert len(list((run / "data" / "imgs").glob("*.png"))) == 48
    # One events file: the chief's, each step logged once.
    assert len(list((run / "logs").glob("events.out.tfevents.*"))) == 1
    outputs = run_workers(tmp_path, [run, run], [*overrides[:-1], "train.max_steps=3"],
                          "shared_resumed", resume=True)
    assert all("SKIP 2" in out for out in outputs), outputs
    assert (run / "checkpoints" / "ckpt-3.index").is_file()
