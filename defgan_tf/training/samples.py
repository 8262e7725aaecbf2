"""Sample grids: input | deformed | mask | colour | edited | flow, for TensorBoard and PNGs."""

from __future__ import annotations

import cv2
import numpy as np

COLUMNS = ("input", "deformed", "mask", "color", "edited", "flow")


def flow_to_rgb(flow_px: np.ndarray, max_px: float) -> np.ndarray:
    """Colour-wheel rendering of a displacement field (hue = direction, value = length).

    Args:
        flow_px: (H, W, 2) displacement in pixels, (x, y) order.
        max_px: the length shown at full brightness (the model's max offset).

    Returns:
        (H, W, 3) uint8 RGB; white-free so zero motion is black.
    """
    dx, dy = flow_px[..., 0].astype(np.float32), flow_px[..., 1].astype(np.float32)
    magnitude, angle = cv2.cartToPolar(dx, dy, angleInDegrees=True)
    hsv = np.zeros((*flow_px.shape[:2], 3), np.uint8)
    hsv[..., 0] = (angle / 2).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(magnitude / max(max_px, 1e-6) * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[-1, 1] float image → uint8 RGB (a 1-channel map in [0, 1] becomes grey)."""
    image = np.asarray(image, np.float32)
    if image.shape[-1] == 1:
        return np.repeat(np.clip(image * 255, 0, 255), 3, axis=-1).astype(np.uint8)
    return np.clip((image + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def sample_grid(outputs: dict[str, np.ndarray], images: np.ndarray, max_offset_px: float,
                grid_to_flow) -> np.ndarray:
    """Stacks one row per sample: input | deformed | mask | colour | edited | flow.

    Args:
        outputs: the model's output dict for a batch (numpy arrays).
        images: (B, H, W, 3) inputs in [-1, 1].
        max_offset_px: flow length shown at full brightness.
        grid_to_flow: function grid (B, H, W, 2) → pixel flow (B, H, W, 2).

    Returns:
        (B·H, 6·W, 3) uint8 RGB.
    """
    flows = np.asarray(grid_to_flow(outputs["grid"]))
    rows = []
    for i in range(images.shape[0]):
        tiles = [to_uint8(images[i]), to_uint8(outputs["deformed"][i]),
                 to_uint8(outputs["mask"][i]), to_uint8(outputs["color"][i]),
                 to_uint8(outputs["edited"][i]), flow_to_rgb(flows[i], max_offset_px)]
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)
