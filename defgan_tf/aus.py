"""The 17 facial action units (AUs) DefGAN is conditioned on, in their fixed order."""

from __future__ import annotations

# DESIGN.md §1: the order of the conditioning vector everywhere (models, files, exports).
AU_CODES: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45",
)
NUM_AUS = len(AU_CODES)

# FACS names, in AU_CODES order.
AU_FACS_NAMES: tuple[str, ...] = (
    "inner_brow_raiser", "outer_brow_raiser", "brow_lowerer", "upper_lid_raiser",
    "cheek_raiser", "lid_tightener", "nose_wrinkler", "upper_lip_raiser",
    "lip_corner_puller", "dimpler", "lip_corner_depressor", "chin_raiser",
    "lip_stretcher", "lip_tightener", "lips_part", "jaw_drop", "blink",
)
