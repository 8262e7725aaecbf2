"""The training commands turn on TensorFlow's oneDNN kernels before TensorFlow loads."""

import json
import os
import subprocess
import sys

PROBE = ("import json, os, sys, {module}; print(json.dumps("
         "[os.environ.get('TF_ENABLE_ONEDNN_OPTS'), 'tensorflow' in sys.modules]))")


def _run_probe(module: str, onednn: str | None, log_level: str | None = None
               ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if onednn is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    if log_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = log_level
    return subprocess.run([sys.executable, "-c", PROBE.format(module=module)], env=env,
                          capture_output=True, text=True, check=True)


def _import_in_fresh_process(module: str, onednn: str | None) -> list:
    return json.loads(_run_probe(module, onednn).stdout)


def test_the_training_command_turns_onednn_on_before_tensorflow_loads():
    # The switch only works if TensorFlow is not loaded yet when it is set.
    assert _import_in_fresh_process("defgan_tf.train", None) == ["1", False]


def test_an_explicit_choice_is_kept():
    assert _import_in_fresh_process("defgan_tf.train", "0") == ["0", False]


def test_editing_keeps_tensorflows_default():
    # At batch 1 oneDNN was the slower one on an AVX2-only CPU (docs/benchmarks.md).
    assert _import_in_fresh_process("defgan_tf.edit", None)[0] is None


def test_the_au_regressor_command_turns_onednn_on_before_tensorflow_loads():
    # Its module loads TensorFlow itself, so the probe reads TensorFlow's own start-up
    # line: on a CPU where oneDNN is off by default it only says "on" when the switch
    # came first.
    probe = _run_probe("defgan_tf.metrics.au_regressor", None, log_level="0")
    assert json.loads(probe.stdout) == ["1", True]
    assert "oneDNN custom operations are on" in probe.stderr


def test_evaluation_keeps_tensorflows_default():
    assert _import_in_fresh_process("defgan_tf.evaluate", None)[0] is None
