"""Disc material displaced beyond the endplate outline: grown from the rim through disc-like tissue, limited by
bone, the thecal sac and the reach the nomenclature allows; strands, sequestered fragments and the canal."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from planner.disc.segmentation.frame import STEP_MM, endplate_planes_mm
from planner.disc.segmentation.masks import (
    _at_least,
    _connected_to,
    _morph,
    comes_within,
    distance_outside_mm,
    ray_pixels,
)

REACH_MM = 20.0  # how far displaced material may extend beyond the outline, posteriorly and laterally
#: laterally and anteriorly (beyond 60 degrees from posterior) only a bulge's few mm: at L5-S1 herniations
#: there are rare (far-lateral ones lie beyond the S1 root's course), and the psoas and prevertebral tissue
#: against the disc have its signal: on the real healthy volunteers' discs they read as 14-20 mm "bulges"
#: with the limit at 100 degrees
ANTERIOR_REACH_MM = 3.0
ANTERIOR_FROM_DEG = 60.0
#: posteriorly the full reach only in the central canal; beside it the lateral recess and the foramen are about
#: this deep before the facet joints (grey tissue there, the facet capsule and ligamentum flavum, read as
#: 16-22 mm "bulges" on healthy volunteers)
RECESS_REACH_MM = 8.0
CENTRAL_CANAL_HALF_WIDTH_MM = 12.0
MIGRATION_MM = 14.0
#: a free (sequestered) fragment: at most this high along the column (taller tissue runs on: roots, veins),
#: at least this big, centred within this distance of the midline (the anterior epidural space)
FRAGMENT_HEIGHT_MM = 11.0
FRAGMENT_MM3 = 100.0
FRAGMENT_MIDLINE_MM = 8.0
#: no continuity with the disc: this much other tissue between (beyond a partial-volume rim)
FRAGMENT_GAP_MM = 2.0
#: displaced material may overhang the endplate planes by this much; tissue of its signal running on
#: further both above and below is a vertical structure beside the disc
VERTICAL_MARGIN_MM = 3.0
#: a bulge's layer may be as dark as this share of the disc's median signal: the floor at half the marrow's
#: signal (ligament, cortex) would exclude a dark, degenerated disc's own margin (a T2 disc at a third of the
#: marrow's signal: a random phantom's 3.6 mm bulge read normal)
DARK_DISC_SHARE = 0.8
#: the displaced material's base reaches to where its signal falls to this share of its own (brightest tenth)
BASE_EDGE = 0.7
#: displaced material's signal never falls under this share of its base's brightest tenth
SIMILAR_FLOOR = 0.6
#: Displaced material smaller than this beside the disc is noise or partial volume (a 3 mm protrusion on a
#: 12 mm base is about 150 mm^3)
MIN_DISPLACED_MM3 = 60.0
#: A migrated fragment's centre lies within this distance of the midline: the canal between the pedicles.
CANAL_HALF_WIDTH_MM = 15.0


def _displaced(image, core, outline, upper_mm, lower_mm, n_mm, marrow, bone, inside_series) -> np.ndarray:
    """Disc-like tissue beyond the outline, connected to the disc's rim."""
    # the endplate planes extended beyond the outline
    top, bottom = endplate_planes_mm(outline, upper_mm, lower_mm)
    n_grid = n_mm[:, None, None]
    distance = distance_outside_mm(outline)
    beyond = (~outline) & (distance <= reach_mm(outline)) & inside_series
    slab = (n_grid <= top + MIGRATION_MM) & (n_grid >= bottom - MIGRATION_MM)
    # disc-like signal: between ligament/cortex and CSF/fat, judged against the disc itself
    disc_values = image[core]
    low = max(0.5 * marrow, float(np.percentile(disc_values, 5)) * 0.9)
    high = min(1.45 * marrow, float(np.percentile(disc_values, 95)) * 1.1)  # a dark disc: darker than marrow
    within = (n_grid <= top) & (n_grid >= bottom)
    within_slab = within[:, 0, 0]
    bright = max(high, 1.3 * marrow)  # CSF and fat
    sac = _in_front_of_the_sac(image[within_slab].mean(axis=0), outline, bright) if within_slab.any() else None
    bright_rim = _morph(image > bright, 2, "dilate")

    def disc_like(floor: float, each_plane: bool = False) -> np.ndarray:
        """``each_plane``: beyond the endplate planes, in front of the sac in that plane (where a fragment has
        pushed it back), not of the sac at the disc's height."""
        candidate = beyond[None] & slab & ~bone & (image >= floor) & (image <= high)
        # in the canal disc material lies in front of the thecal sac (it indents the sac, it does not pass
        # beside it): grey tissue beside the sac's front is roots, fat and ligament, and read as 14-19 mm bulges
        # on healthy volunteers' discs
        if sac is not None:
            candidate[within_slab if each_plane else slice(None)] &= sac[None]
        if each_plane:
            for k in np.nonzero(slab[:, 0, 0] & ~within_slab)[0]:
                candidate[k] &= _in_front_of_the_sac(image[k], outline, bright, seen=True)
        # the partial-volume rim of CSF and fat has disc-like signal: not within 1 mm of them (first: the rim
        # along the thecal sac's front would otherwise join grey tissue above the disc to grey tissue below)
        candidate &= ~bright_rim
        # disc material lies between the endplate planes (or migrates one way from them): tissue of its
        # signal that runs on above and below the disc is a vertical structure beside it (psoas, nerve
        # root, the thecal sac's wall, ligamentum flavum), not disc; where its column crosses the level
        # with another signal (displaced disc against grey epidural tissue), that stretch is not the structure
        vertical = _through_the_level(candidate, n_mm, top + VERTICAL_MARGIN_MM, bottom - VERTICAL_MARGIN_MM)
        return candidate & ~(vertical & (~within | _like_the_rest_of_its_run(vertical, image, within)))

    candidate = disc_like(low)
    # a bulge's thin layer, found before the opening below removes it. A bulge is the annulus' own margin: on a
    # dark, degenerated disc (its median under half the marrow's signal, the floor) its signal reaches down to
    # the disc's own (:data:`DARK_DISC_SHARE` of its median); the layer's density guards it against grey
    # tissue. Not lowered elsewhere: for a compact mass beyond the rim, a dark disc's grey tissue along the body
    # read as a 6.4 mm extrusion on a random phantom and a patient's protrusion (vb1-08) grew from 4.5 to 8.0 mm;
    # for the layer of a brighter disc, grey tissue along the rim made fixed phantoms' protrusions bulges
    median = float(np.median(disc_values))
    dark = median < 0.5 * marrow  # the floor excludes most of the disc's own signal
    layer_candidate = disc_like(DARK_DISC_SHARE * median) if dark else candidate
    layer = _bulging_layer(layer_candidate, outline, distance, n_mm, top, bottom, within)
    # displaced material is a compact mass: strands under 3 mm thick (partial volume around the rim,
    # tissue squeezed between the thecal sac and bone) are opened away, the mass's own margin is
    # grown back within the candidate tissue
    opened = _morph(candidate, 3, "open")
    candidate = _morph(opened, 2, "dilate") & candidate
    seeds = _morph(core, 2, "dilate") & candidate
    displaced = _connected_to(candidate, seeds) if seeds.any() else np.zeros_like(core)
    # displaced material has the signal of the displaced disc at its base, not of the grey tissue it
    # abuts (nerve roots, ligament, muscle): keep what is within 0.8-1.45 times the base's signal
    base = displaced & (distance <= 2.0)[None]
    if base.sum() >= 20:
        # its signal: the brightest tenth (the median takes in the partial volume at the endplates and its
        # sides and, in a noisy image, the speckle of grey tissue along the rim that passed as disc-like)
        reference = float(np.median(image[base]))
        signal = float(np.percentile(image[base], 90))
        # similar: down to 0.8 of the median (the partial volume at the material's margin), never under
        # SIMILAR_FLOOR of its signal (that median pulled down by speckle let grey tissue in and, through
        # the upper bound, cut the material itself off); up to 1.45 of its signal (short of CSF and fat)
        similar = (image >= max(0.8 * reference, SIMILAR_FLOOR * signal)) & (image <= 1.45 * signal)
        # the base itself is kept up to its edge (the fringe beyond widened the base): half-way between
        # its signal and the grey tissue beside it (ligament, epidural tissue), or BASE_EDGE of its signal
        edge = BASE_EDGE * signal
        beside = _beside(base, displaced | core, distance)
        if beside.sum() >= 20:
            around = float(np.median(image[beside]))
            if around < 0.8 * signal:  # darker tissue beside it (not CSF or fat)
                edge = max(edge, (signal + around) / 2)
        base &= image >= edge
        displaced = _connected_to(_morph(displaced & similar, 2, "open") | base, seeds)
    displaced |= layer
    # the disc's margin is a dark line (its outer annulus, the posterior longitudinal ligament against it):
    # tissue of its signal beyond such a line is another structure (the epidural veins behind healthy discs
    # read as 10-14 mm "bulges" on volunteers' water images). Trimmed before the material's connection to the
    # rim is judged, so that what lay beyond the line only through the trimmed rays goes with it
    displaced &= ~_beyond_a_dark_line(displaced & within, image, outline, within[:, 0, 0], n_mm, top, bottom)[None]
    # between the endplate planes the disc is squeezed out plane by plane: what counts is connected
    # to the rim in its own plane (not via a structure running up or down the canal)
    rim = _morph(outline, 2, "dilate")
    for k in np.nonzero(within[:, 0, 0])[0]:
        displaced[k] = _connected_to(displaced[k], rim) if displaced[k].any() else displaced[k]
    # a few cubic millimetres beside the rim are noise or partial volume, not a displacement to measure
    displaced = (displaced & ~within) | _at_least(displaced & within, MIN_DISPLACED_MM3)
    # a thin strand held to the rim by a narrow neck, with no wider head, is a root, a vein or the dural sleeve
    displaced &= ~_strands(displaced & within, outline)[None]
    # beyond the endplate planes (migration) only material at least 3 mm thick counts: a ligament,
    # the dural sac's wall or a vessel along the column is thinner
    # and it migrates in the epidural space, behind the bodies: not along their front or sides
    rows = np.arange(outline.shape[0])[:, None]
    margin = np.where(outline.any(axis=0), outline.shape[0] - 1 - np.argmax(outline[::-1], axis=0), outline.shape[0])
    behind = rows >= margin[None, :] - int(round(2.0 / STEP_MM))
    # and along the back of the bodies, under the displaced disc: not in the canal behind it (nerve roots,
    # the partial-volume rim of the thecal sac across thick sagittal slices)
    footprint = _morph((displaced & within).any(axis=0), int(round(2.0 / STEP_MM)), "dilate")
    outside_height = _morph(displaced & ~within & (behind & footprint)[None], 3, "open")
    if outside_height.any():
        outside_height = _connected_to(outside_height, _morph(displaced & within, 2, "dilate"), fully_connected=False)
    # a migrated fragment lies against the back of the body in each of its planes (the anterior
    # epidural space), not free in the canal or the foramen
    for k in np.nonzero(outside_height.any(axis=(1, 2)))[0]:
        wall = _morph(bone[k], int(round(2.0 / STEP_MM)), "dilate")
        outside_height[k] = _connected_to(outside_height[k], wall) if wall.any() else False
    kept = (displaced & within) | _in_the_canal(outside_height, outline)
    # a sequestered fragment below or above the disc pushes the sac back in its own planes: the candidate
    # tissue there is judged against the sac beside it (at the disc's height, the sac's front blocked
    # random phantoms' fragments 3 mm under the disc), then opened like the material at the disc
    loose = disc_like(low, each_plane=True)
    wanted = behind[None] & ~within
    loose &= _box_around(wanted, 3 + 3 + 2 + 1)  # what the opening and dilation read there (a third of the time)
    loose = _morph(_morph(loose, 3, "open"), 2, "dilate") & loose
    loose &= wanted & ~kept
    fragments = _sequestered(loose, core | kept, bone, outline, n_mm, top, bottom, image, bright)
    return kept | fragments


def _box_around(mask: np.ndarray, margin: int) -> np.ndarray:
    """The bounding box of ``mask`` widened by ``margin`` voxels on every side, as a mask of its shape."""
    box = np.zeros(mask.shape, bool)
    where = np.nonzero(mask)
    if len(where[0]):
        box[tuple(slice(max(0, int(w.min()) - margin), int(w.max()) + margin + 1) for w in where)] = True
    return box


#: a dark line between the disc and tissue beyond it: along a ray from the outline's centre, a valley whose
#: signal lies under this share of the brightest tissue on either side of it (between the outline and the
#: valley; displaced material beyond it)
DARK_LINE_SHARE = 0.85
#: the image the rays read: the displaced planes' middle, less this share of the disc's height at either
#: endplate plane (where displacement is measured: :data:`planner.disc.bulge.MIDDLE_MARGIN`)
DARK_LINE_MARGIN = 0.2
#: rays every degree, sampled every quarter pixel out to this distance from the centre (mm)
RAY_MM = 60.0


def _beyond_a_dark_line(displaced, image, outline, within_planes, n_mm, top: float, bottom: float) -> np.ndarray:
    """[posterior, lateral]: where ``displaced`` material (3D, between the endplate planes) lies beyond a dark
    line seen from the outline. On a ray from the outline's centre, from where it leaves the outline, the image
    (the middle of the disc's height, averaged) may fall and rise again; a valley under
    :data:`DARK_LINE_SHARE` of the brightest signal both before it and in the displaced material after it
    separates the disc from another structure. Displaced material seen beyond the first such valley, in that
    ray's degree, is returned. Herniated disc does not lie beyond a dark line at its own level: it pushes the
    annulus' outer fibres and the ligament ahead of it, so the line lies at its tip (or it has broken through,
    with no line left across its base)."""
    seen = displaced.any(axis=0) & ~outline
    beyond = np.zeros_like(outline)
    if not seen.any() or not outline.any():
        return beyond
    margin = DARK_LINE_MARGIN * (top - bottom)
    middle = within_planes & (n_mm <= top - margin) & (n_mm >= bottom + margin)
    if not middle.any():
        middle = within_planes
    plane = image[middle].mean(axis=0)
    centre = np.argwhere(outline).mean(axis=0)
    radii = np.arange(0.0, RAY_MM, STEP_MM / 4)
    p, l, inside = ray_pixels(outline.shape, centre, np.radians(np.arange(360.0)), radii)
    p, l = np.clip(p, 0, outline.shape[0] - 1), np.clip(l, 0, outline.shape[1] - 1)
    values = np.where(inside, plane[p, l], np.nan)
    within_outline = inside & outline[p, l]
    # each ray from where it leaves the outline for good (the outline is not convex everywhere)
    last_in = np.where(within_outline.any(axis=1), radii.size - 1 - np.argmax(within_outline[:, ::-1], axis=1), -1)
    after = np.arange(radii.size)[None] > last_in[:, None]
    material = after & inside & seen[p, l]
    ray_values = np.where(after & inside, values, -np.inf)
    before = np.maximum.accumulate(ray_values, axis=1)
    later = np.where(material, values, -np.inf)
    material_after = np.maximum.accumulate(later[:, ::-1], axis=1)[:, ::-1]
    valley = after & inside & (values <= DARK_LINE_SHARE * np.minimum(before, material_after))
    cut = np.where(valley.any(axis=1), radii[np.argmax(valley, axis=1)], np.inf)
    rows, columns = np.nonzero(seen)
    angle = direction_degrees(rows - centre[0], columns - centre[1])
    radius = np.hypot(rows - centre[0], columns - centre[1]) * STEP_MM
    far = radius > cut[angle]
    beyond[rows[far], columns[far]] = True
    return beyond


#: tissue seen along the normal narrower than twice this (mm) and running on radially for more than
#: STRAND_RUN_MM is a strand beside the disc (a root, a vein, the dural sleeve), not disc
STRAND_RADIUS_MM = 2.0
STRAND_RUN_MM = 3.0


def _strands(displaced: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """[posterior, lateral]: the parts of ``displaced`` (3D, between the endplate planes) seen along the normal
    that are strands, not herniated disc: narrower than ``2 * STRAND_RADIUS_MM`` (what an opening of that radius
    removes), beyond the first millimetre, and running on radially for more than ``STRAND_RUN_MM``. Herniated
    disc is squeezed out over a base several millimetres wide and its dome narrows only at the apex (under
    2 mm of run, kept); healthy volunteers' discs read as 13-16 mm "bulges" from strands beside the thecal sac."""
    distance = distance_outside_mm(outline)
    seen = displaced.any(axis=0) & ~outline
    if not seen.any():
        return np.zeros_like(outline)
    thick = _morph(seen, int(round(STRAND_RADIUS_MM / STEP_MM)), "open")
    thin = seen & ~thick & (distance > 1.0)
    if not thin.any():
        return np.zeros_like(outline)
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(thin.astype(np.uint8)), True))
    strands = np.zeros_like(outline)
    for label in range(1, int(labels.max()) + 1):
        piece = labels == label
        run = float(distance[piece].max() - distance[piece].min())
        if run > STRAND_RUN_MM and float(distance[piece].max()) > 4.0:
            strands |= piece
    return strands


#: a fragment ends: beyond both its ends (1-3 mm), tissue of its own signal (within this share) over its
#: footprint is a layer running on along the bodies, of which a threshold kept a patch
LAYER_SIGNAL_SHARE = 0.1


def _sequestered(
    candidate, disc, bone, outline, n_mm, top: float, bottom: float, image=None, bright=None
) -> np.ndarray:
    """Free fragments of disc-like tissue above or below the disc: no continuity with ``disc`` (FRAGMENT_GAP_MM
    or more from it), at least FRAGMENT_MM3 of compact tissue (``candidate`` is opened: at least 3 mm thick), at
    most FRAGMENT_HEIGHT_MM high (a root or vessel running on is no fragment), where a sequestered fragment
    lies: in the anterior epidural space, against the back of the bodies in half its planes or more, wholly
    behind the outline's posterior margin and starting within 3 mm of it, centred within
    FRAGMENT_MIDLINE_MM of the midline. Grey tissue beside the bodies, in the lateral recesses (roots,
    veins) or free in the canal was taken for fragments on three of the five real studies without these. With
    ``image`` and ``bright`` (CSF's signal), the sac lies behind it (:func:`_sac_behind`)."""
    pieces = _at_least(candidate, FRAGMENT_MM3) if candidate.any() else candidate
    if not pieces.any():
        return pieces
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(pieces.astype(np.uint8)), True))
    fragments = np.zeros_like(pieces)
    within_2mm = int(round(2.0 / STEP_MM))  # of the bodies, plane by plane
    wall = None
    for label in range(1, int(labels.max()) + 1):
        piece = labels == label
        planes = np.nonzero(piece.any(axis=(1, 2)))[0]
        compact = (  # bounded: not cut by the migration slab's ends (tissue running on along the bodies)
            n_mm[planes].max() - n_mm[planes].min() <= FRAGMENT_HEIGHT_MM
            and n_mm[planes].max() < top + MIGRATION_MM - 1.0
            and n_mm[planes].min() > bottom - MIGRATION_MM + 1.0
        )
        if not (compact and where_fragments_lie(piece, outline)) or comes_within(piece, disc, FRAGMENT_GAP_MM):
            continue
        if image is not None and _runs_on_as_a_layer(piece, planes, image, n_mm):
            continue
        if wall is None:
            wall = sitk.GetArrayFromImage(sitk.BinaryDilate(sitk.GetImageFromArray(bone.astype(np.uint8)), [within_2mm, within_2mm, 0])) > 0
        against = np.mean([(piece[k] & wall[k]).any() for k in planes]) >= 0.5  # its ends taper off
        if against and (bright is None or _sac_behind(piece, image, bright)):
            fragments |= piece
    return fragments


#: CSF behind a fragment: within this distance behind its back (mm), along at least this share of its length
#: and width
SAC_BEHIND_MM = 3.0
SAC_BEHIND_SHARE = 0.5


def _sac_behind(piece: np.ndarray, image: np.ndarray, bright: float) -> bool:
    """Whether the thecal sac's CSF (signal over ``bright``) lies within SAC_BEHIND_MM behind ``piece``'s back
    (its most posterior voxel in each of its columns along the posterior axis) in at least SAC_BEHIND_SHARE of
    them: a fragment in the anterior epidural space pushes the sac back and lies against it. Grey tissue at the
    sac's caudal end (roots entering the sacral canal) lies under the CSF, not in front of it, and read as a
    20 mm sequestration on a patient's series."""
    columns = piece.any(axis=1)  # [normal, lateral]
    back = piece.shape[1] - 1 - np.argmax(piece[:, ::-1, :], axis=1)
    k, l = np.nonzero(columns)
    if not len(k):
        return False
    reach = int(round(SAC_BEHIND_MM / STEP_MM))
    rows = np.clip(back[k, l][:, None] + np.arange(1, reach + 1)[None], 0, piece.shape[1] - 1)
    return bool(np.mean((image[k[:, None], rows, l[:, None]] > bright).any(axis=1)) >= SAC_BEHIND_SHARE)


def _runs_on_as_a_layer(piece: np.ndarray, planes: np.ndarray, image: np.ndarray, n_mm: np.ndarray) -> bool:
    """Whether the tissue over ``piece``'s footprint 1-3 mm beyond both its ends has its signal (median within
    LAYER_SIGNAL_SHARE): a patch of a layer along the bodies' backs (epidural fat or veins, the ligament) that
    the disc-like signal window cut out where noise crossed it, not a fragment, which ends."""
    footprint = piece.any(axis=0)
    own = float(np.median(image[piece]))
    if own <= 0:
        return False
    ends = []
    for beyond in (n_mm - n_mm[planes.max()], n_mm[planes.min()] - n_mm):
        near = np.nonzero((beyond >= 1.0) & (beyond <= 3.0))[0]
        if not len(near):
            return False  # the image ends there: whether it runs on is not seen
        ends.append(float(np.median(image[near][:, footprint])))
    return all(abs(value - own) <= LAYER_SIGNAL_SHARE * own for value in ends)


def where_fragments_lie(piece: np.ndarray, outline: np.ndarray) -> bool:
    """Whether ``piece`` (3D, in the disc frame) lies where a sequestered fragment does: in the anterior
    epidural space, wholly behind the outline's posterior margin and starting within 3 mm of it, centred
    within FRAGMENT_MIDLINE_MM of the midline."""
    margin = int(np.nonzero(outline.any(axis=1))[0].max())  # the outline's posterior margin (row)
    midline = float(np.argwhere(outline)[:, 1].mean())
    rows, columns = np.nonzero(piece.any(axis=0))
    epidural = margin - 1 <= rows.min() <= margin + int(round(3.0 / STEP_MM))
    return bool(epidural and abs(columns.mean() - midline) * STEP_MM <= FRAGMENT_MIDLINE_MM)


def _beside(base: np.ndarray, taken: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """The tissue beside the displaced material's ``base`` (3D): within 3 mm of it seen along the normal,
    in its planes, in the first 2 mm beyond the outline, not ``taken`` (the disc and displaced material)."""
    footprint = _morph(base.any(axis=0), int(round(3.0 / STEP_MM)), "dilate")
    shell = (distance > 0.0) & (distance <= 2.0)
    return (footprint & shell)[None] & base.any(axis=(1, 2))[:, None, None] & ~taken


def direction_degrees(posterior, lateral) -> np.ndarray:
    """Whole degrees (0-359) of offsets from the disc's centre in its frame: 0 posterior, +90 the patient's
    left, the convention of d(theta)."""
    return np.rint(np.degrees(np.arctan2(lateral, posterior))).astype(int) % 360


def _bulging_layer(candidate, outline, distance, n_mm, top: float, bottom: float, within) -> np.ndarray:
    """The thin layer of a bulge: disc-like tissue hugging the outline over more than 90 degrees.

    A bulging annulus is displaced 2-3 mm along a long stretch of the rim,
    which the opening against partial-volume strands removes. It is told from
    noise and partial volume by being dense: over the middle half of the
    disc's height, at least 80 % of the first 2 mm beyond the outline is
    disc-like (11-degree running mean per direction), where the speckle of
    noise fills under half. Returns the candidate tissue within 2.5 mm of the
    outline, between the endplate planes, in the dense directions; empty when
    they add up to 90 degrees or less (a protrusion's base is dense too).
    """
    shell = (distance > 0.25) & (distance <= 2.0)
    quarter = 0.25 * (top - bottom)
    middle = (n_mm <= top - quarter) & (n_mm >= bottom + quarter)
    if not middle.any() or not shell.any():
        return np.zeros_like(candidate)
    centre = np.argwhere(outline).mean(axis=0)
    rows, columns = np.indices(outline.shape)
    degrees = direction_degrees(rows - centre[0], columns - centre[1])
    fill = candidate[middle][:, shell].mean(axis=0)
    per_degree = np.bincount(degrees[shell], weights=fill, minlength=360) / np.maximum(
        np.bincount(degrees[shell], minlength=360), 1
    )
    running = np.convolve(np.r_[per_degree[-5:], per_degree, per_degree[:5]], np.ones(11) / 11, mode="valid")
    dense = running >= 0.8
    if dense.sum() <= 90:
        return np.zeros_like(candidate)
    return candidate & within & ((distance <= 2.5) & dense[degrees])[None]


def _in_the_canal(mask: np.ndarray, outline: np.ndarray, half_width_mm: float = CANAL_HALF_WIDTH_MM) -> np.ndarray:
    """The parts of ``mask`` (3D) centred within ``half_width_mm`` of the outline's midline.

    A fragment migrates in the anterior epidural space, between the pedicles;
    tissue of disc signal above or below the disc further out (nerve roots and
    their ganglia in the foramina, the psoas) cannot be told from it on T2 and
    is not counted as migration."""
    if not mask.any():
        return mask
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), True))
    midline = float(np.argwhere(outline)[:, 1].mean())
    found = labels[mask]
    column = np.bincount(found, weights=np.nonzero(mask)[2]) / np.maximum(np.bincount(found), 1)  # per label
    central = np.abs(column - midline) * STEP_MM <= half_width_mm
    central[0] = False  # the background
    return central[labels]


def _like_the_rest_of_its_run(run: np.ndarray, image: np.ndarray, level: np.ndarray, tolerance: float = 0.25) -> np.ndarray:
    """Voxels of ``run`` (runs along axis 0 through ``level``) whose signal is within ``tolerance`` of the mean
    of their column's run outside ``level``: the same structure all along, not something it passes."""
    outside = run & ~level
    count = outside.sum(axis=0)
    mean = (image * outside).sum(axis=0) / np.maximum(count, 1)
    return run & (np.abs(image - mean[None]) <= tolerance * mean[None]) & (count > 0)[None]


def _through_the_level(mask: np.ndarray, n_mm: np.ndarray, above_mm: float, below_mm: float) -> np.ndarray:
    """The runs of ``mask`` along the normal (axis 0) that reach both above ``above_mm`` and below ``below_mm``."""
    n = mask.shape[0]
    highest = np.full(mask.shape, -1, dtype=np.int32)  # per voxel, the top index of its run
    lowest = np.full(mask.shape, -1, dtype=np.int32)
    highest[n - 1] = np.where(mask[n - 1], n - 1, -1)
    for k in range(n - 2, -1, -1):
        highest[k] = np.where(mask[k], np.where(mask[k + 1], highest[k + 1], k), -1)
    lowest[0] = np.where(mask[0], 0, -1)
    for k in range(1, n):
        lowest[k] = np.where(mask[k], np.where(mask[k - 1], lowest[k - 1], k), -1)
    reaches_up = n_mm[np.maximum(highest, 0)] >= above_mm
    reaches_down = n_mm[np.maximum(lowest, 0)] <= below_mm
    return mask & reaches_up & reaches_down


#: the thecal sac's front is looked for this far behind the disc (mm), and carried this far beside it (mm)
SAC_SEARCH_MM = 25.0
SAC_BESIDE_MM = 8.0
#: 3 x 3: the plane's opening (SimpleITK's ball of radius 1, the image's edge counted as foreground when eroding)
#: and components (touching at corners): scipy's take a third of the time on one plane, judged up to 60 times a
#: disc
_SQUARE = np.ones((3, 3), bool)


def _in_front_of_the_sac(plane: np.ndarray, outline: np.ndarray, bright: float, seen: bool = False) -> np.ndarray:
    """[posterior, lateral]: where displaced disc may lie, as far as the thecal sac, CSF and fat are concerned.
    In every column, in front of the first bright (CSF, fat) voxels behind the disc's posterior margin within
    ``SAC_SEARCH_MM``. The sac is the largest such region near the midline; in the columns beside it (within
    ``SAC_BESIDE_MM``) displaced disc lies in front of its nearest column's front too; further out the foramina
    are limited by :func:`reach_mm`. ``plane``: the image at the disc's height. ``seen``: nowhere when no sac is
    seen (a plane beyond the disc, where a fragment lies only in front of the sac it pushes back)."""
    allowed = np.ones(outline.shape, bool)
    if not outline.any():
        return allowed
    rows = np.arange(outline.shape[0])[:, None]
    columns = np.arange(outline.shape[1])
    back = int(np.nonzero(outline.any(axis=1))[0].max())  # the disc's posterior margin (row)
    margin = np.where(outline.any(axis=0), outline.shape[0] - 1 - np.argmax(outline[::-1], axis=0), -1)
    search = (rows >= back - int(round(4.0 / STEP_MM))) & (rows <= back + int(round(SAC_SEARCH_MM / STEP_MM)))
    opened = ndimage.binary_dilation(ndimage.binary_erosion(plane > bright, _SQUARE, border_value=1), _SQUARE)
    bright_plane = opened & search & (rows > margin[None, :])
    if not bright_plane.any():
        return np.zeros_like(allowed) if seen else allowed
    # in every column, disc material lies in front of the first CSF or fat behind the disc: it pushes them
    # back, it does not pass them (on a patient's T2 series, a largest bright region taken for the sac in
    # the posterior fat let tissue behind the real sac, up to the laminae, read as a 21.6 mm extrusion)
    first = np.where(bright_plane.any(axis=0), np.argmax(bright_plane, axis=0), outline.shape[0])
    allowed = rows < first[None, :]
    labels = ndimage.label(bright_plane, _SQUARE)[0]
    centre = np.argwhere(outline).mean(axis=0)
    central = (np.abs(columns - centre[1]) * STEP_MM <= CENTRAL_CANAL_HALF_WIDTH_MM)[None, :]
    counts = np.bincount(labels[bright_plane & central], minlength=labels.max() + 1)
    counts[0] = 0
    if counts.max() < int(round(4.0 / STEP_MM)) ** 2:  # no CSF of a sac's size behind the disc (a T1 series)
        return np.zeros_like(allowed) if seen else allowed
    sac = labels == int(np.argmax(counts))
    sac_columns = np.nonzero(sac.any(axis=0))[0]
    front = np.argmax(sac, axis=0)
    limit = np.full(outline.shape[1], outline.shape[0], dtype=float)
    limit[sac_columns] = front[sac_columns]
    beside = int(round(SAC_BESIDE_MM / STEP_MM))
    nearest = sac_columns[np.argmin(np.abs(sac_columns[None, :] - columns[:, None]), axis=1)]  # per column
    near = ~sac.any(axis=0) & (np.abs(nearest - columns) <= beside)
    limit[near] = front[nearest[near]]
    return allowed & (rows < limit[None, :])


def reach_mm(outline: np.ndarray) -> np.ndarray:
    """[posterior, lateral]: how far beyond ``outline`` displaced material is looked for, by place: within
    ``ANTERIOR_FROM_DEG`` of posterior ``REACH_MM`` in the central canal and ``RECESS_REACH_MM`` beside it (the
    lateral recess, the foramen); elsewhere a bulge's ``ANTERIOR_REACH_MM`` (LDN 2.0: bulges usually extend
    less than 3 mm beyond the apophyses)."""
    rows, columns = np.indices(outline.shape)
    centre = np.argwhere(outline).mean(axis=0)
    cos_from_posterior = (rows - centre[0]) / np.maximum(np.hypot(rows - centre[0], columns - centre[1]), 1e-6)
    central = np.abs(columns - centre[1]) * STEP_MM <= CENTRAL_CANAL_HALF_WIDTH_MM
    posterior = np.where(central, REACH_MM, RECESS_REACH_MM)
    return np.where(cos_from_posterior >= np.cos(np.radians(ANTERIOR_FROM_DEG)), posterior, ANTERIOR_REACH_MM)
