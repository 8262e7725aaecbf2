"""Pictures of what the model did: flow colour wheel, mask, |edit − input| heatmap, labelled grids.

These make the paper's figures from real photos: Fig. 4 (input + every expression),
Fig. 5 (where the edit concentrates) and Fig. 6 (single-AU sweeps, deformed and final).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

_LABEL_HEIGHT = 18
_LABEL_WIDTH = 70


def flow_to_rgb(grid: np.ndarray, max_px: float | None = None) -> np.ndarray:
    """Colours the deformation as displacement: hue = direction, brightness = length.

    Args:
        grid: (S, S, 2) sampling grid, normalized (x, y), −1/+1 at the corner pixel
            centres (align_corners), as the models return it.
        max_px: displacement (pixels) shown at full brightness; default the largest one.

    Returns:
        (S, S, 3) uint8 RGB; black where the grid is the identity.
    """
    height, width = grid.shape[:2]
    ys, xs = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    dx = (grid[..., 0] - xs) * (width - 1) / 2
    dy = (grid[..., 1] - ys) * (height - 1) / 2
    magnitude = np.hypot(dx, dy)
    scale = max_px if max_px is not None else max(float(magnitude.max()), 1e-6)
    hsv = np.zeros((height, width, 3), np.uint8)
    hsv[..., 0] = ((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * 179).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(magnitude / scale * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def heatmap(values: np.ndarray, max_value: float | None = None) -> np.ndarray:
    """Inferno colour map of a non-negative (H, W) or (H, W, C) map (channels averaged).

    Args:
        values: e.g. |edited − input| in [0, 2] or a mask in [0, 1].
        max_value: value drawn brightest; default the map's maximum.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    values = np.asarray(values, np.float32)
    if values.ndim == 3:
        values = values.mean(-1)
    top = max_value if max_value is not None else max(float(values.max()), 1e-6)
    scaled = np.clip(values / top * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def _label(text: str, width: int, height: int) -> np.ndarray:
    band = np.full((height, width, 3), 255, np.uint8)
    scale = 0.4
    (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    origin = (max((width - text_w) // 2, 1), (height + text_h) // 2)
    cv2.putText(band, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return band


def labelled_grid(rows: Sequence[Sequence[np.ndarray]], column_labels: Sequence[str] = (),
                  row_labels: Sequence[str] = (), cell: int | None = None) -> np.ndarray:
    """Tiles images into a grid with optional column headers and row names.

    Args:
        rows: rows of (h, w, 3) uint8 images; each is resized to cell×cell.
        column_labels: one header per column (or none).
        row_labels: one name per row (or none).
        cell: side of each tile; default the first image's height (at least 96).

    Returns:
        (H, W, 3) uint8 RGB.
    """
    cell = cell or max(rows[0][0].shape[0], 96)
    tiles = [[cv2.resize(image, (cell, cell), interpolation=cv2.INTER_NEAREST
                         if image.shape[0] < cell else cv2.INTER_AREA) for image in row]
             for row in rows]
    columns = max(len(row) for row in tiles)
    blank = np.full((cell, cell, 3), 255, np.uint8)
    body = np.concatenate(
        [np.concatenate(row + [blank] * (columns - len(row)), axis=1) for row in tiles], axis=0)
    if column_labels:
        header = np.concatenate([_label(t, cell, _LABEL_HEIGHT) for t in column_labels]
                                + [_label("", cell, _LABEL_HEIGHT)]
                                * (columns - len(column_labels)), axis=1)
        body = np.concatenate([header, body], axis=0)
    if row_labels:
        offset = _LABEL_HEIGHT if column_labels else 0
        side = [_label("", _LABEL_WIDTH, offset)] if offset else []
        side += [_label(t, _LABEL_WIDTH, cell) for t in row_labels]
        body = np.concatenate([np.concatenate(side, axis=0), body], axis=1)
    return body
