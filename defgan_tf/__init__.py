"""DefGAN-TF: facial expression editing by deformation, then texture, in TensorFlow/Keras."""

__version__ = "0.1.0"
