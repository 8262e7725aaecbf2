"""ops package of defgan_tf."""
