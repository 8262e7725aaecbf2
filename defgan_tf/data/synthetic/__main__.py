"""`python -m defgan_tf.data.synthetic`: write a synthetic dataset."""

import sys

from defgan_tf.data.synthetic.writer import main

if __name__ == "__main__":  # spawned workers import this module too; they must not run it
    sys.exit(main())
