"""Shared fixtures: tiny configs, a tiny synthetic dataset and a tiny trained run."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Most tests train: oneDNN kernels as `python -m defgan_tf.train` uses them (see there).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import pytest

# Small enough that a tf.function trace and a few steps take seconds on 2 cores.
TINY_OVERRIDES = [
    "model.image_size=32", "model.generator_width=4", "model.n_res=1",
    "model.critic_width=4", "identity.embedder=none", "train.batch_size=4",
    "train.n_critic=2", "train.log_every=1", "train.sample_every=1000",
    "train.checkpoint_every=1000", "data.synthetic_count=48", "optimizer.decay_epochs=0",
]


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    """48 synthetic 32×32 faces in the on-disk dataset format (train and test splits)."""
    from defgan_tf.data.synthetic import write_dataset

    return write_dataset(tmp_path_factory.mktemp("tiny_data"), count=48, size=32, seed=0,
                         workers=1, progress=False)


@pytest.fixture(scope="session")
def tiny_config_overrides(tiny_data_dir):
    """TINY_OVERRIDES reading the session's tiny synthetic dataset."""
    return [*TINY_OVERRIDES, f"data.path={tiny_data_dir}"]


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory, tiny_config_overrides):
    """A run directory with a tiny model trained for 3 steps (config + checkpoint)."""
    from defgan_tf.config import load_config
    from defgan_tf.training.loop import Trainer

    run_dir = tmp_path_factory.mktemp("tiny_run")
    config = load_config(None, [*tiny_config_overrides, "train.max_steps=3"])
    Trainer(config, run_dir, progress=False).run()
    return run_dir


@pytest.fixture
def without_litert(monkeypatch):
    """Imports of `ai_edge_litert` fail, as where the `litert` extra is not installed."""
    import builtins

    real_import = builtins.__import__

    def no_litert(name, *args, **kwargs):
        if name.startswith("ai_edge_litert"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_litert)
