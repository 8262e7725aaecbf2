"""training package of defgan_tf."""
