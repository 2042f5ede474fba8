"""Classical segmentation of the L5-S1 disc and its endplates (issue 4), in a frame aligned with the disc.

The disc is the tissue between two vertebral endplates, whatever its signal
(bright when hydrated, dark when degenerated), so it is not grown from an
intensity but bounded by bone:

1. :class:`DiscFrame` resamples the series onto a 0.5 mm grid whose axes are
   the patient's left (LPS +x), the disc's posterior direction and its normal
   (superior), centred on the disc that level finding reported.
2. Every column along the normal that starts in L5 marrow above and in S1
   marrow below is searched, from each body towards the disc, for the dark
   cortical endplate; the disc spans between the two, less the cortex. The
   endplate outline (the ring apophyses: the reference outline of Lumbar Disc
   Nomenclature 2.0) runs half-way between the cross-sections of the L5 and S1
   bodies just beyond their endplates (:func:`_between`); each cross-section is found by rays from
   the centre that stop at the body's cortex (:func:`body_section`), so the
   outline cannot run into the tissue around the bodies. Columns where the
   endplate search failed, jumped, found a height far from the centre's or an
   endplate far off a plane get their surfaces from their neighbours.
3. Disc material displaced beyond that outline is grown from the disc's rim
   through tissue of disc-like signal (darker than CSF and fat, brighter than
   ligament and cortex, and like the displaced disc at its base; not within
   1 mm of CSF or fat, whose partial-volume rim looks the same; not part of
   a structure running on above and below the disc, like the psoas or a
   nerve root), connected to the rim in its own plane, within 20 mm of the
   outline posteriorly and laterally (5 mm anteriorly), and 14 mm above or
   below the endplates (migration: along the back of the bodies, under the
   displaced disc, in the canal: :func:`_in_the_canal`).
4. When the study has an axial series through the disc,
   :func:`displaced_on_axial` draws the endplate outline again on its slices
   just beyond each endplate and grows the displaced material again on it:
   its slices lie in the disc's plane, so the margins are sharp where a
   sagittal series' thick slices blur the lateral edges.

The masks live in the disc frame; :meth:`DiscSegmentation.series_mask`
resamples the disc onto the grid of the series it was computed from.

The steps by module: :mod:`.frame` (the frame and the segmentation), :mod:`.endplates` (the endplate
search and :func:`segment_disc`), :mod:`.displaced` (displaced material and fragments), :mod:`.axial`
(the axial series), :mod:`.masks` (mask helpers).
"""

from __future__ import annotations

from planner.disc.segmentation.axial import (  # noqa: F401
    displaced_on_axial,
)
from planner.disc.segmentation.displaced import (  # noqa: F401
    ANTERIOR_FROM_DEG,
    ANTERIOR_REACH_MM,
    BASE_EDGE,
    CANAL_HALF_WIDTH_MM,
    CENTRAL_CANAL_HALF_WIDTH_MM,
    FRAGMENT_GAP_MM,
    FRAGMENT_HEIGHT_MM,
    FRAGMENT_MIDLINE_MM,
    FRAGMENT_MM3,
    MIGRATION_MM,
    MIN_DISPLACED_MM3,
    REACH_MM,
    RECESS_REACH_MM,
    SAC_BESIDE_MM,
    SAC_SEARCH_MM,
    SIMILAR_FLOOR,
    STRAND_RADIUS_MM,
    STRAND_RUN_MM,
    VERTICAL_MARGIN_MM,
    direction_degrees,
    reach_mm,
    where_fragments_lie,
)
from planner.disc.segmentation.endplates import (  # noqa: F401
    CORTEX_MM,
    RAY_MAX_MM,
    RAYS,
    body_section,
    segment_disc,
)
from planner.disc.segmentation.frame import (  # noqa: F401
    LATERAL_MM,
    NORMAL_MM,
    POSTERIOR_MM,
    STEP_MM,
    DiscFrame,
    DiscSegmentation,
    SegmentationFailed,
    endplate_planes_mm,
)
from planner.disc.segmentation.masks import (  # noqa: F401
    comes_within,
    distance_outside_mm,
)

__all__ = ['ANTERIOR_FROM_DEG', 'ANTERIOR_REACH_MM', 'BASE_EDGE', 'body_section', 'CANAL_HALF_WIDTH_MM', 'CENTRAL_CANAL_HALF_WIDTH_MM', 'comes_within', 'CORTEX_MM', 'direction_degrees', 'DiscFrame', 'DiscSegmentation', 'displaced_on_axial', 'distance_outside_mm', 'endplate_planes_mm', 'FRAGMENT_GAP_MM', 'FRAGMENT_HEIGHT_MM', 'FRAGMENT_MIDLINE_MM', 'FRAGMENT_MM3', 'LATERAL_MM', 'MIGRATION_MM', 'MIN_DISPLACED_MM3', 'NORMAL_MM', 'POSTERIOR_MM', 'RAY_MAX_MM', 'RAYS', 'REACH_MM', 'reach_mm', 'RECESS_REACH_MM', 'SAC_BESIDE_MM', 'SAC_SEARCH_MM', 'segment_disc', 'SegmentationFailed', 'SIMILAR_FLOOR', 'STEP_MM', 'STRAND_RADIUS_MM', 'STRAND_RUN_MM', 'VERTICAL_MARGIN_MM', 'where_fragments_lie']
