"""What the L5-S1 disc measures and does around it, beside its LDN 2.0 class (:mod:`planner.disc.bulge`):
its anterior and posterior height, the thecal sac at the level, and whether displaced material reaches
the lateral recesses where the S1 roots descend.

Lengths in mm on the disc frame's STEP_MM grid; ``seg`` is a
:class:`~planner.disc.segmentation.DiscSegmentation`.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from planner.disc.segmentation import STEP_MM, DiscSegmentation


def disc_heights(seg: DiscSegmentation, l_mm) -> dict:
    """Anterior and posterior disc height at the midline: the outline's first and last 4 mm."""
    centre_l = int(np.argmin(np.abs(l_mm - float(np.mean(l_mm[np.nonzero(seg.outline.any(axis=0))[0]])))))
    column = np.nonzero(seg.outline[:, centre_l])[0]
    if len(column) == 0:
        return {"anterior": 0.0, "posterior": 0.0}
    height = seg.upper_mm[:, centre_l] - seg.lower_mm[:, centre_l]
    span = int(round(4.0 / STEP_MM))
    return {
        "anterior": float(np.nanmean(height[column[:span]])),
        "posterior": float(np.nanmean(height[column[-span:]])),
    }


def thecal_sac(seg: DiscSegmentation, top: float, bottom: float) -> dict:
    """The thecal sac at the level: bright (CSF) tissue behind the disc, in the mid-disc plane."""
    middle = int(np.argmin(np.abs(seg.frame.axis_mm(0) - (top + bottom) / 2)))
    plane = seg.image[max(0, middle - 2) : middle + 3].mean(axis=0)
    bright = (plane > 1.3 * seg.marrow) & ~seg.outline & ~seg.disc[middle]
    posterior_edge = np.nonzero(seg.outline.any(axis=1))[0].max()
    bright[: posterior_edge + 1] = False
    if not bright.any():
        return {"ap_mm": None, "area_mm2": None}
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(bright.astype(np.uint8))))
    centre_l = int(round(np.argwhere(seg.outline).mean(axis=0)[1]))
    near = labels[posterior_edge + 1 : posterior_edge + 30, max(0, centre_l - 10) : centre_l + 10]
    ids = np.unique(near[near > 0])
    if not len(ids):
        return {"ap_mm": None, "area_mm2": None}
    sac = np.isin(labels, ids)
    rows = np.nonzero(sac[:, centre_l])[0] if sac[:, centre_l].any() else np.nonzero(sac.any(axis=1))[0]
    return {"ap_mm": float((rows.max() - rows.min() + 1) * STEP_MM), "area_mm2": float(sac.sum() * STEP_MM**2)}


def root_contact(beyond_outline, p_grid, l_grid, centre_l, seg) -> dict:
    """Whether displaced material reaches the lateral recess where each S1 root descends.

    The S1 roots leave the thecal sac at L5-S1 5-15 mm either side of the
    midline, just behind the disc: displaced material in that region, within
    4 mm behind the outline's posterior margin or further, touches the root.
    """
    posterior_margin = p_grid[seg.outline].max()
    contact = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        lateral = sign * (l_grid - centre_l)
        recess = (lateral >= 5.0) & (lateral <= 15.0) & (p_grid >= posterior_margin - 4.0)
        contact[side] = bool((beyond_outline & recess).sum() * STEP_MM**2 >= 4.0)
    return contact
