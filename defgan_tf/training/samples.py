"""Sample grids: input | deformed | mask | colour | edited | flow, for TensorBoard and PNGs."""

from __future__ import annotations

import numpy as np

from defgan_tf.editing.backends import images_from_model
from defgan_tf.editing.visualize import flow_to_rgb


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[-1, 1] float image → uint8 RGB (a 1-channel map in [0, 1] becomes grey)."""
    image = np.asarray(image, np.float32)
    if image.shape[-1] == 1:
        return np.repeat(np.clip(image * 255, 0, 255), 3, axis=-1).astype(np.uint8)
    return images_from_model(image)


def sample_grid(outputs: dict[str, np.ndarray], images: np.ndarray,
                max_offset_px: float) -> np.ndarray:
    """Stacks one row per sample: input | deformed | mask | colour | edited | flow.

    Args:
        outputs: the model's output dict for a batch (numpy arrays).
        images: (B, H, W, 3) inputs in [-1, 1].
        max_offset_px: flow length shown at full brightness.

    Returns:
        (B·H, 6·W, 3) uint8 RGB.
    """
    rows = []
    for i in range(images.shape[0]):
        tiles = [to_uint8(images[i]), to_uint8(outputs["deformed"][i]),
                 to_uint8(outputs["mask"][i]), to_uint8(outputs["color"][i]),
                 to_uint8(outputs["edited"][i]), flow_to_rgb(outputs["grid"][i], max_offset_px)]
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)
