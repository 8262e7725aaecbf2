"""Export a trained DefGAN to SavedModel and TFLite."""
