"""`python -m defgan_tf.data.synthetic`: write a synthetic dataset."""

import sys

from defgan_tf.data.synthetic.writer import main

sys.exit(main())
