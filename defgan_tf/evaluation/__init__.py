"""What `python -m defgan_tf.evaluate` writes besides metrics.json: figures and report.md."""
