"""Tests for the flow colour wheel, heatmaps and labelled grids."""

import cv2
import numpy as np

from defgan_tf.editing import visualize


def _identity(size):
    axis = np.linspace(-1, 1, size)
    ys, xs = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([xs, ys], axis=-1)


def test_identity_grid_is_black():
    assert (visualize.flow_to_rgb(_identity(8)) == 0).all()


def test_direction_sets_hue_and_length_sets_brightness():
    grid = _identity(9)
    grid[..., 0] += 2 / 8  # every pixel samples one pixel to the right
    rgb = visualize.flow_to_rgb(grid, max_px=2.0)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    assert np.ptp(hsv[..., 0]) <= 1 and abs(int(hsv[0, 0, 2]) - 128) <= 2
    left = _identity(9)
    left[..., 0] -= 2 / 8
    assert not np.array_equal(visualize.flow_to_rgb(left, 2.0), rgb)


def test_heatmap_scales_to_max():
    values = np.zeros((4, 4, 3), np.float32)
    values[0, 0] = 1.0
    image = visualize.heatmap(values)
    assert image.shape == (4, 4, 3)
    assert image[0, 0].sum() > 600 and image[1, 1].sum() < 30


def test_labelled_grid_layout():
    tile = np.zeros((10, 10, 3), np.uint8)
    grid = visualize.labelled_grid([[tile] * 3, [tile] * 2], ["a", "b", "c"], ["x", "y"],
                                   cell=40)
    assert grid.shape == (18 + 80, 70 + 120, 3)
    assert (grid[18 + 40:, 70 + 80:] == 255).all()  # the short row is padded with white
