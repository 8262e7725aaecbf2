"""The JSON that travels with every export: what the tensors mean and where the model came from.

A `.tflite` file cannot say in which order its 17 AU inputs come or what range its
image expects, so every export carries a sidecar (`model.tflite.json` beside the
file, `defgan_export.json` inside a SavedModel directory) that the editing backends
(`defgan_tf.editing.backends`), `mobile_demo/run_tflite.py` and app code read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from defgan_tf import files
from defgan_tf.aus import AU_CODES, AU_FACS_NAMES, PRESETS
from defgan_tf.config import Config

FORMAT_VERSION = 1


def sidecar_path(model_file: str | Path) -> Path:
    """`model.tflite` → `model.tflite.json`, where the backends look for the metadata."""
    model_file = Path(model_file)
    return model_file.with_name(model_file.name + ".json")


def build_metadata(config: Config, *, fmt: str, weights: str, quantization: str | None = None,
                   signatures: dict[str, dict[str, dict[str, str]]] | None = None,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The metadata dictionary of one exported model.

    Args:
        config: the run's resolved config (image size, mode, config hash).
        fmt: "saved_model" or "tflite".
        weights: the generator weights exported, "ema" (the moving average) or "raw".
        quantization: the TFLite variant (fp32, fp16, dynamic, int8); None for SavedModel.
        signatures: signature name → {"inputs": {key: tensor name}, "outputs": {...}}.
            The `edit` and `estimate_aus` entries also become the top-level
            `inputs`/`outputs`/`estimate_aus` role maps the editing backends read.
        extra: more keys to store (e.g. which ops stayed float in an int8 model).

    Returns:
        A JSON-serialisable dict: `au_codes` (conditioning order), `au_names`,
        `image_size`, `image_range` [-1, 1], `image_layout`, `presets` (name → 17
        floats in `au_codes` order), `config_hash`, `mode`, `weights`, `format`,
        `quantization`, `signatures` and the role maps.
    """
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "format": fmt,
        "quantization": quantization,
        "au_codes": list(AU_CODES),
        "au_names": list(AU_FACS_NAMES),
        "aus_range": [0.0, 1.0],
        "image_size": int(config.model.image_size),
        "image_range": [-1.0, 1.0],
        "image_layout": "NHWC RGB float32; uint8 signatures take [0, 255]",
        "presets": {name: [round(float(v), 6) for v in aus] for name, aus in PRESETS.items()},
        "mode": config.model.mode,
        "weights": weights,
        "config_hash": config.hash(),
        "signatures": signatures or {},
    }
    if signatures and "edit" in signatures:
        meta["inputs"] = dict(signatures["edit"]["inputs"])
        meta["outputs"] = dict(signatures["edit"]["outputs"])
    if signatures and "estimate_aus" in signatures:
        meta["estimate_aus"] = {key: dict(signatures["estimate_aus"][key])
                                for key in ("inputs", "outputs")}
    meta.update(extra or {})
    return meta


def write_metadata(path: str | Path, meta: dict[str, Any]) -> Path:
    """Writes `meta` as indented JSON to `path` (atomically) and returns the path."""
    return files.write_text(path, json.dumps(meta, indent=2, sort_keys=False) + "\n")
