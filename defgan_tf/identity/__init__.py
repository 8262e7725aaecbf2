"""identity package of defgan_tf."""
