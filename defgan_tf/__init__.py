"""DefGAN-TF: facial expression editing by deformation, then texture, in TensorFlow/Keras."""

import os

# On Linux, TensorFlow turns on its oneDNN CPU kernels by default only on CPUs with
# AVX-512 VNNI or BF16, AVX-VNNI or AMX (DefaultOneDnnPolicy in its util/port.cc).
# Elsewhere (AVX2-only CPUs such as AMD Zen 3) it falls back to Eigen, whose convolution
# gradients made a training step 1.7-3.1x slower on a 2-core AMD EPYC (docs/benchmarks.md,
# "oneDNN"). The switch is read when TensorFlow loads, so it is set here, before any
# module of the package imports TensorFlow; an explicit TF_ENABLE_ONEDNN_OPTS=0 still wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
