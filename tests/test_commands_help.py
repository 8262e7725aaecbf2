"""`--help` of every command answers without importing TensorFlow (seconds, and its logs)."""

import subprocess
import sys

import pytest

CHECK = """
import sys
from defgan_tf.{command} import main
try:
    main(["--help"])
except SystemExit as done:
    assert done.code == 0, done.code
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras"))
print("loaded:", loaded[:3])
sys.exit(1 if loaded else 0)
"""


@pytest.mark.parametrize("command", ["train", "edit", "evaluate"])
def test_help_does_not_import_tensorflow(command):
    done = subprocess.run([sys.executable, "-c", CHECK.format(command=command)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-500:] + done.stderr[-2000:]
    assert done.stdout.startswith("usage: ") and "--help" in done.stdout
