"""Synthetic B-mode ultrasound: the demo's geometry and the posterior sacrum (muscle cines: muscle_cine.py).

Images are 8-bit greyscale with Rayleigh speckle. Pixel (column x, row y) of the
calibrated region lies at lateral ``(x - x0) * delta`` mm and depth
``(y - y0) * delta`` mm from the transducer face.
"""

from __future__ import annotations

import numpy as np

ROWS, COLUMNS = 400, 512
REGION = (56, 30, 455, 379)  # x0, y0, x1, y1: 400 x 350 px
DELTA_MM = 0.1  # 40 mm wide, 35 mm deep (linear probe, musculoskeletal preset)


def _speckle(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.rayleigh(0.55, size=shape).astype(np.float32)


def _depth_mm() -> np.ndarray:
    y = np.arange(ROWS, dtype=np.float32)[:, None]
    return np.broadcast_to((y - REGION[1]) * DELTA_MM, (ROWS, COLUMNS))


def _lateral_mm() -> np.ndarray:
    x = np.arange(COLUMNS, dtype=np.float32)[None, :]
    return np.broadcast_to((x - REGION[0]) * DELTA_MM, (ROWS, COLUMNS))


def _frame_mask() -> np.ndarray:
    mask = np.zeros((ROWS, COLUMNS), dtype=bool)
    x0, y0, x1, y1 = REGION
    mask[y0 : y1 + 1, x0 : x1 + 1] = True
    return mask


def sacrum_frame(rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Transverse view over the posterior sacrum: sacral cortex with the S1 foramen as a gap.

    Returns the image and ground truth in pixel and mm coordinates of the region.
    """
    depth, lateral = _depth_mm(), _lateral_mm()
    image = np.full((ROWS, COLUMNS), 0.2, dtype=np.float32)
    image[depth < 0.6] = 0.9
    image[(depth >= 0.6) & (depth < 9.0)] = 0.16  # subcutaneous fat
    image[np.abs(depth - 9.2) < 0.3] = 0.85  # thoracolumbar fascia
    muscle = (depth >= 9.5) & (depth < 40)
    image[muscle] = 0.24 + 0.12 * (np.cos(2 * np.pi * depth / 1.3) > 0.7)[muscle]
    # the sacral surface: a bright line rising medially to the median crest at lateral 6 mm
    surface = 24.0 + 0.004 * (lateral - 6.0) ** 2 - 3.0 * np.exp(-(((lateral - 6.0) / 2.5) ** 2))
    foramen_centre_mm, foramen_width_mm = 26.0, 8.0
    in_foramen = np.abs(lateral - foramen_centre_mm) < foramen_width_mm / 2
    bone_line = (np.abs(depth - surface) < 0.7) & ~in_foramen
    image[bone_line] = 1.0
    shadow = (depth > surface + 0.7) & ~in_foramen
    image[shadow] = 0.03
    attenuation = np.exp(-0.02 * np.clip(depth, 0, None))
    frame = image * attenuation * _speckle(rng, image.shape) * 1.25
    frame[~_frame_mask()] = 0
    x0, y0 = REGION[0], REGION[1]
    foramen_depth = float(24.0 + 0.004 * (foramen_centre_mm - 6.0) ** 2)
    truth = {
        "s1_foramen_lateral_mm": foramen_centre_mm,
        "s1_foramen_depth_mm": foramen_depth,
        "s1_foramen_width_mm": foramen_width_mm,
        "s1_foramen_px": [x0 + foramen_centre_mm / DELTA_MM, y0 + foramen_depth / DELTA_MM],
        "median_crest_lateral_mm": 6.0,
    }
    return np.clip(frame * 255, 0, 255).astype(np.uint8), truth
