"""Importing the package sets TensorFlow's CPU defaults before TensorFlow loads."""

import json
import os
import subprocess
import sys

import pytest

PROBE = ("import json, os, sys, {module}; print(json.dumps("
         "[os.environ.get('TF_ENABLE_ONEDNN_OPTS'), 'tensorflow' in sys.modules]))")


def _import_in_fresh_process(module: str, onednn: str | None) -> list:
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if onednn is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    out = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.mark.parametrize("module", ["defgan_tf", "export"])
def test_import_turns_on_onednn_before_tensorflow_loads(module):
    # The switch only works if TensorFlow is not loaded yet when it is set.
    assert _import_in_fresh_process(module, None) == ["1", False]


def test_an_explicit_choice_is_kept():
    assert _import_in_fresh_process("defgan_tf", "0") == ["0", False]
