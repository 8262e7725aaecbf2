"""Synthetic faces with ground truth: an AU-driven renderer that knows the true edit.

`render(make_identity(seed), aus, size)` returns the image, its true backward motion
field from the neutral face, where each AU acts and the 68 landmarks;
`true_edit_flow` gives the motion of any edit; `write_dataset` (and
`python -m defgan_tf.data.synthetic`) writes an OpenFace-style dataset. See
docs/synthetic.md.
"""

from defgan_tf.data.synthetic.identity import Identity, make_identity
from defgan_tf.data.synthetic.render import (
    Render,
    render,
    render_motion_only,
    render_neutral,
    true_edit_flow,
)
from defgan_tf.data.synthetic.sampling import sample_aus
from defgan_tf.data.synthetic.writer import main, write_dataset

__all__ = ["Identity", "Render", "main", "make_identity", "render", "render_motion_only",
           "render_neutral", "sample_aus", "true_edit_flow", "write_dataset"]
