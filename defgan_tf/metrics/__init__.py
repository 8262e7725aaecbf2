"""metrics package of defgan_tf."""
