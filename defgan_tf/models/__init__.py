"""models package of defgan_tf."""
