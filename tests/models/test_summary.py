"""Parameter and FLOP counts."""

import tensorflow as tf

from defgan_tf.config import load_config
from defgan_tf.models.summary import count_flops, summarize


def test_count_flops_of_a_known_convolution():
    kernel = tf.ones((3, 3, 2, 4))
    flops = count_flops(lambda x: tf.nn.conv2d(x, kernel, 1, "SAME"),
                        tf.TensorSpec((1, 8, 8, 2), tf.float32))
    assert flops == 2 * 3 * 3 * 2 * 4 * 8 * 8  # multiply + add per kernel tap per output


def test_summary_of_a_tiny_config_adds_up():
    config = load_config(None, ["model.image_size=32", "model.generator_width=4",
                                "model.n_res=1", "model.critic_width=4",
                                "identity.embedder=none"])
    rows = summarize(config)
    both = rows["edit (both generators + warp)"]
    parts = rows["deformation_generator"]["gflops"] + rows["texture_generator"]["gflops"]
    assert both["params"] == (rows["deformation_generator"]["params"]
                              + rows["texture_generator"]["params"])
    assert parts <= both["gflops"] < 1.05 * parts  # the warp and the blend are cheap
