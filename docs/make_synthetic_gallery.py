"""Regenerates the synthetic-face gallery in docs/images/synthetic_*.png.

    python docs/make_synthetic_gallery.py [--out docs/images] [--size 128]

Figures: identities x expression presets, single-AU sweeps, the true flow fields
(HSV: hue = direction, brightness = length) with landmarks, and the AU region masks.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from defgan_tf.aus import AU_CODES, AU_FACS_NAMES, NUM_AUS, PRESETS
from defgan_tf.data.synthetic import (
    make_identity,
    render,
    render_motion_only,
    render_neutral,
    true_edit_flow,
)

IDENTITIES = (0, 2, 4, 5, 9, 10)
SWEEP_IDENTITY = 2
SWEEP_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _label(width: int, text: str, height: int = 18) -> np.ndarray:
    strip = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(strip, text, (4, height - 5), FONT, 0.4, (30, 30, 30), 1, cv2.LINE_AA)
    return strip


def _grid(rows: list[list[np.ndarray]], col_titles: list[str] | None = None,
          row_titles: list[str] | None = None, title_width: int = 150) -> np.ndarray:
    tile = rows[0][0].shape[0]
    body = [np.hstack(row) for row in rows]
    if row_titles:
        body = [np.hstack([_side_label(tile, title_width, t), b]) for t, b in zip(row_titles, body)]
    out = np.vstack(body)
    if col_titles:
        offset = title_width if row_titles else 0
        header = np.hstack([np.full((18, offset, 3), 255, np.uint8)]
                           + [_label(tile, t) for t in col_titles])
        out = np.vstack([header, out])
    return out


def _side_label(height: int, width: int, text: str) -> np.ndarray:
    strip = np.full((height, width, 3), 255, np.uint8)
    for k, line in enumerate(text.split("\n")):
        cv2.putText(strip, line, (4, height // 2 - 4 + 16 * k), FONT, 0.42, (30, 30, 30), 1,
                    cv2.LINE_AA)
    return strip


def flow_to_rgb(flow: np.ndarray, max_px: float) -> np.ndarray:
    """HSV colouring of an (H, W, 2) flow: hue = direction, value = length / max_px."""
    angle = (np.degrees(np.arctan2(flow[..., 1], flow[..., 0])) % 360) / 2
    value = np.clip(np.linalg.norm(flow, axis=-1) / max_px, 0, 1) * 255
    hsv = np.stack([angle, np.full_like(angle, 255), value], -1).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _with_landmarks(image: np.ndarray, landmarks: np.ndarray, zoom: int = 4) -> np.ndarray:
    """Draws landmarks (pixels of the unzoomed image) on an image zoomed `zoom` times."""
    out = image.copy()
    centres = np.rint(((landmarks + 0.5) * zoom - 0.5) * 4).astype(int)  # 2 fraction bits
    for x, y in centres:
        cv2.circle(out, (int(x), int(y)), 10, (40, 255, 80), -1, cv2.LINE_AA, 2)
    return out


def presets_figure(size: int) -> np.ndarray:
    rows = [[render(make_identity(seed), aus, size).image for aus in PRESETS.values()]
            for seed in IDENTITIES]
    return _grid(rows, col_titles=list(PRESETS))


def sweeps_figure(size: int) -> np.ndarray:
    identity = make_identity(SWEEP_IDENTITY)
    rows = []
    for a in range(NUM_AUS):
        row = []
        for level in SWEEP_LEVELS:
            aus = np.zeros(NUM_AUS, np.float32)
            aus[a] = level
            row.append(render(identity, aus, size).image)
        rows.append(row)
    titles = [f"{code}\n{name.replace('_', ' ')}" for code, name in zip(AU_CODES, AU_FACS_NAMES)]
    return _grid(rows, [f"intensity {v:g}" for v in SWEEP_LEVELS], titles)


def flow_figure(size: int) -> np.ndarray:
    rows = []
    for seed, source, target in ((2, "neutral", "happy"), (4, "neutral", "surprise"),
                                 (10, "sad", "happy")):
        identity = make_identity(seed)
        src, tgt = PRESETS[source], PRESETS[target]
        before, after = render(identity, src, size), render(identity, tgt, size)
        edit = true_edit_flow(identity, src, tgt, size)
        moved = render_motion_only(identity, tgt, size)
        texture = np.abs(after.image.astype(int) - moved.astype(int)).max(-1)
        texture = cv2.applyColorMap(np.clip(texture * 3, 0, 255).astype(np.uint8),
                                    cv2.COLORMAP_INFERNO)[..., ::-1]
        big = cv2.resize(after.image, (size * 4, size * 4), interpolation=cv2.INTER_CUBIC)
        marked = cv2.resize(_with_landmarks(big, after.landmarks), (size, size),
                            interpolation=cv2.INTER_AREA)
        rows.append([before.image, after.image, marked, flow_to_rgb(edit, 5.0), moved,
                     texture])
    titles = ["source", "target", "landmarks", "true edit flow", "motion only",
              "new texture"]
    return _grid(rows, titles)


def regions_figure(size: int) -> np.ndarray:
    identity = make_identity(SWEEP_IDENTITY)
    neutral = render_neutral(identity, size).astype(np.float32)
    regions = render(identity, np.zeros(NUM_AUS), size).regions
    tiles = []
    for a, code in enumerate(AU_CODES):
        mask = regions[..., a, None]
        tint = np.where(mask, 0.45 * neutral + 0.55 * np.array([255, 60, 40]), 0.6 * neutral)
        tile = np.vstack([_label(size, code), tint.astype(np.uint8)])
        tiles.append(tile)
    tiles.append(np.vstack([_label(size, "neutral"), neutral.astype(np.uint8)]))
    return np.vstack([np.hstack(tiles[i:i + 6]) for i in range(0, 18, 6)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "images"))
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures = {"presets": presets_figure, "sweeps": sweeps_figure, "flow": flow_figure,
               "regions": regions_figure}
    for name, make in figures.items():
        path = out / f"synthetic_{name}.png"
        cv2.imwrite(str(path), cv2.cvtColor(make(args.size), cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
