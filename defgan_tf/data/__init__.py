"""data package of defgan_tf."""
