"""Export a trained DefGAN to SavedModel and TFLite."""

# `python -m export.saved_model` runs this before the module's own `import tensorflow`:
# importing the package sets TensorFlow's CPU defaults first (defgan_tf/__init__.py).
import defgan_tf  # noqa: F401
