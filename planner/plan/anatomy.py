"""The anatomy a needle must respect, estimated from the MR around L5-S1 (issue 5).

    anatomy = build_anatomy(analysis, [axial_volume])   # the analysed sagittal series plus any others
    anatomy.structures      # Structure distance maps for trajectory_metrics
    anatomy.landmarks       # target points: S1 foramina, posterior epidural space, disc, sacral canal

Every MR series of the study is resampled onto one patient-aligned planning
grid (``STEP_MM``) around the L5-S1 disc, normalised by the marrow signal of
the L5/S1 bodies, and combined; ``covered`` marks where any series has data.
From that image, on T2 contrast:

- **bone**: marrow-like signal, ``BONE_BAND`` times the local muscle signal
  (the surface coil's shading is estimated from muscle-like voxels and divided
  out), opened so that partial-volume shells between muscle and fat drop out,
  away from subcutaneous fat, plus the L5 and S1 bodies of the disc segmentation;
- **iliac crest**: the bone more lateral than a vertebral body's full width
  from the midline (the ilium; the sacral ala stays "bone");
- **thecal sac**: CSF-bright tissue grown from the canal behind the disc;
- **body**: everything brighter than air (the skin is its surface);
- **nerve roots**: the S1 roots (lateral recess to S1 dorsal foramen) and the
  exiting L5 roots (under the L5 pedicle, over the disc's posterolateral
  corner: the hypotenuse of Kambin's triangle) are *modelled* from the disc's
  measured size, because roots are not reliably visible on a sagittal T2.

All of it is an estimate, said so in :attr:`SafetyAnatomy.warnings`, shown as
overlays so that the physician judges it on the images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from planner.disc.levels import sitk_image
from planner.disc.segmentation import STEP_MM as FRAME_STEP_MM
from planner.plan.trajectory import Structure
from planner.progress import CancelToken, ProgressCallback, check, report
from planner.volume import Volume

STEP_MM = 1.5
#: planning box around the disc centre, LPS mm: (left-right half width, anterior, posterior, inferior, superior)
BOX_MM = {"lateral": 130.0, "anterior": 50.0, "posterior": 180.0, "inferior": 110.0, "superior": 90.0}
#: bone signal on T2 relative to the local muscle signal (after the coil's shading is divided out)
BONE_BAND = (1.3, 2.5)
FAT_TO_MUSCLE = 2.7  # subcutaneous fat is brighter than this (relative to local muscle)
FAT_LEVEL = 1.4  # CSF is brighter than this (relative to vertebral marrow)
MUSCLE_RANGE = (0.35, 0.85)  # relative to vertebral marrow: what the shading is estimated from
SHADING_SIGMA_MM = 20.0
AIR_LEVEL = 0.2
ROOT_RADIUS_MM = 2.5


@dataclass
class SafetyAnatomy:
    """Masks [k, j, i] on the planning grid ``image_to_lps``, their distance maps, and target landmarks."""

    image_to_lps: np.ndarray
    covered: np.ndarray
    masks: dict[str, np.ndarray]
    structures: tuple[Structure, ...]
    landmarks: dict[str, np.ndarray]
    disc_normal_lps: np.ndarray
    disc_lateral_lps: np.ndarray
    disc_posterior_lps: np.ndarray
    warnings: list[str] = field(default_factory=list)


def planning_grid(center_lps) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The patient-aligned grid around ``center_lps``: (image_to_lps, shape [k, j, i])."""
    c = np.asarray(center_lps, float)
    low = c - np.array([BOX_MM["lateral"], BOX_MM["anterior"], BOX_MM["inferior"]])
    high = c + np.array([BOX_MM["lateral"], BOX_MM["posterior"], BOX_MM["superior"]])
    size = np.round((high - low) / STEP_MM).astype(int) + 1
    affine = np.eye(4)
    affine[:3, :3] *= STEP_MM
    affine[:3, 3] = low
    return affine, (int(size[2]), int(size[1]), int(size[0]))


def _reference(affine: np.ndarray, shape) -> sitk.Image:
    image = sitk.Image([shape[2], shape[1], shape[0]], sitk.sitkFloat32)
    image.SetSpacing([STEP_MM] * 3)
    image.SetOrigin(affine[:3, 3].tolist())
    return image


def _marrow_level(volume: Volume, analysis) -> float | None:
    """Median signal of ``volume`` inside the L5 and S1 bodies found by the disc segmentation."""
    seg = analysis.segmentation
    bodies = seg.l5_body | seg.s1_body
    if not bodies.any():
        return None
    values = seg.frame.sample(volume)[bodies]
    values = values[values > 0]
    return float(np.median(values)) if len(values) > 50 else None


def _to_grid(mask_frame: np.ndarray, frame, reference: sitk.Image) -> np.ndarray:
    source = sitk.GetImageFromArray(mask_frame.astype(np.float32))
    source.CopyInformation(frame.reference())
    return sitk.GetArrayFromImage(sitk.Resample(source, reference, sitk.Transform(), sitk.sitkLinear, 0.0)) >= 0.5


def _open(mask: np.ndarray, radius: int) -> np.ndarray:
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    return sitk.GetArrayFromImage(sitk.BinaryMorphologicalOpening(image, [radius] * 3, sitk.sitkBall)) > 0


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    return sitk.GetArrayFromImage(sitk.BinaryDilate(image, [radius] * 3, sitk.sitkBall)) > 0


def _large_components(mask: np.ndarray, min_voxels: int) -> np.ndarray:
    labels = sitk.RelabelComponent(sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8))), min_voxels)
    return sitk.GetArrayFromImage(labels) > 0


def _muscle_shading(image: np.ndarray, body: np.ndarray) -> np.ndarray:
    """The local signal of muscle-like voxels (a smooth field): divides out the surface coil's shading."""
    weight = (body & (image > MUSCLE_RANGE[0]) & (image < MUSCLE_RANGE[1])).astype(np.float32)

    def blur(array):
        item = sitk.GetImageFromArray(array.astype(np.float32))
        item.SetSpacing([STEP_MM] * 3)
        return sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(item, SHADING_SIGMA_MM))

    return np.maximum(blur(image * weight) / np.maximum(blur(weight), 1e-3), 0.05)


def _tube(points: np.ndarray, start: np.ndarray, end: np.ndarray, radius: float) -> np.ndarray:
    direction = end - start
    length = float(np.linalg.norm(direction))
    direction = direction / length
    t = np.clip((points - start) @ direction, 0.0, length)
    return np.linalg.norm(points - (start + t[..., None] * direction), axis=-1) <= radius


def build_anatomy(
    analysis,
    other_volumes: list[Volume] = (),
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SafetyAnatomy:
    """Estimate the safety anatomy around L5-S1 from the analysed series and any other MR series of the study."""
    seg, finding = analysis.segmentation, analysis.finding
    frame = seg.frame
    warnings: list[str] = []
    report(progress, 0, 4, "Resampling the MR series around L5-S1...")

    # --- the disc in its frame: centre, size, margins
    p_axis, l_axis = frame.axis_mm(1), frame.axis_mm(2)
    outline = seg.outline
    rows, cols = np.nonzero(outline)
    p_of, l_of = p_axis[rows], l_axis[cols]
    centre_p, centre_l = float(p_of.mean()), float(l_of.mean())
    width = float(l_of.max() - l_of.min() + FRAME_STEP_MM)
    depth = float(p_of.max() - p_of.min() + FRAME_STEP_MM)
    posterior_margin = float(p_of.max())
    upper, lower = seg.endplate_planes_mm()
    mid_n = (upper + lower) / 2
    height = float(upper - lower)
    to_lps = frame.to_lps
    disc_centre = to_lps(mid_n, centre_p, centre_l)

    affine, shape = planning_grid(disc_centre)
    reference = _reference(affine, shape)

    # --- every series on the planning grid, relative to its marrow signal
    total = np.zeros(shape, np.float32)
    weight = np.zeros(shape, np.float32)
    for volume in [analysis.volume, *other_volumes]:
        if volume.array.ndim != 3:
            continue
        marrow = _marrow_level(volume, analysis)
        if marrow is None or marrow <= 0:
            warnings.append(f"{volume.description or 'A series'} does not show the L5/S1 bodies; not used for safety.")
            continue
        image = sitk_image(volume)
        ones = sitk.Cast(image * 0 + 1, sitk.sitkFloat32)
        values = sitk.GetArrayFromImage(sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0))
        inside = sitk.GetArrayFromImage(sitk.Resample(ones, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0.0)) > 0
        total[inside] += values[inside] / marrow
        weight[inside] += 1.0
        check(cancel)
    covered = weight > 0
    image = np.where(covered, total / np.maximum(weight, 1), 0.0).astype(np.float32)
    smooth = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(image), 1.0))
    smooth[~covered] = 0.0

    report(progress, 1, 4, "Estimating bone, thecal sac and nerve roots...")
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")[::-1], axis=-1)
    points = (ijk * STEP_MM + affine[:3, 3]).astype(np.float32)  # [k, j, i, 3] LPS
    rel = points - disc_centre.astype(np.float32)
    lat = rel @ frame.lateral.astype(np.float32) - np.float32(centre_l)
    post = rel @ frame.posterior.astype(np.float32)  # from the disc centre, along the disc
    norm = rel @ frame.normal.astype(np.float32)

    body = _large_components(smooth > AIR_LEVEL, 1000)
    body = sitk.GetArrayFromImage(sitk.BinaryFillhole(sitk.GetImageFromArray(body.astype(np.uint8)))) > 0
    disc = _to_grid(seg.disc, frame, reference)
    bodies = _to_grid(seg.l5_body | seg.s1_body, frame, reference)
    skin_depth = sitk.GetArrayFromImage(
        sitk.SignedMaurerDistanceMap(sitk.GetImageFromArray((~body).astype(np.uint8)), insideIsPositive=False,
                                     squaredDistance=False, useImageSpacing=False)
    ) * STEP_MM
    relative = smooth / _muscle_shading(smooth, body)
    fat = (relative > FAT_TO_MUSCLE) & (skin_depth < 35.0)
    band = (relative > BONE_BAND[0]) & (relative < BONE_BAND[1]) & body & ~disc
    band &= ~_dilate(fat, 2)
    bone = _large_components(_open(band, 1), int(300 / STEP_MM**3)) | bodies
    check(cancel)

    # --- thecal sac: bright, grown from the canal behind the disc in the midline
    sac = np.zeros(shape, bool)
    ray_p = np.arange(posterior_margin + 1.0, posterior_margin + 30.0, 0.5)
    ray = to_lps(mid_n, ray_p, centre_l)
    ray_ijk = np.rint((ray - affine[:3, 3]) / STEP_MM).astype(int)
    ok = np.all((ray_ijk >= 0) & (ray_ijk < np.array(shape[::-1])), axis=1)
    bright = np.zeros(len(ray), bool)
    bright[ok] = smooth[ray_ijk[ok, 2], ray_ijk[ok, 1], ray_ijk[ok, 0]] > FAT_LEVEL
    if bright.any():
        first = int(np.argmax(bright))
        run_end = first + int(np.argmin(bright[first:])) if not bright[first:].all() else len(bright)
        seed_p = float(ray_p[(first + run_end - 1) // 2])
        seed = np.rint((to_lps(mid_n, seed_p, centre_l) - affine[:3, 3]) / STEP_MM).astype(int)
        region = (smooth > FAT_LEVEL * 0.95) & (np.abs(lat) < 16.0) & (np.abs(norm) < 45.0)
        region &= (post > posterior_margin - 4.0) & (post < posterior_margin + 32.0)
        grown = sitk.ConnectedThreshold(sitk.GetImageFromArray(region.astype(np.uint8)), seedList=[tuple(int(v) for v in seed)], lower=1, upper=1)
        sac = sitk.GetArrayFromImage(grown) > 0
        canal_back = posterior_margin + 1.0 + run_end * 0.5
    else:
        warnings.append("No CSF-bright thecal sac behind the L5-S1 disc: distances to the dura are not checked.")
        canal_back = posterior_margin + 2.0 + 0.45 * depth
    bone &= ~sac

    # --- iliac bones: bone further from the midline than a body's full width
    iliac = bone & (np.abs(lat) > width) & (norm > -60.0)

    # --- modelled nerve roots, in the disc frame from the measured disc size
    landmarks: dict[str, np.ndarray] = {"disc centre": disc_centre}
    roots: dict[str, np.ndarray] = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        foramen = to_lps(lower - 0.53 * depth, posterior_margin + 0.5 * depth, centre_l + sign * 0.35 * width)
        foramen = _nearest_free(foramen, bone, affine)
        landmarks[f"S1 foramen {side}"] = foramen
        recess = to_lps(mid_n, posterior_margin + 3.0, centre_l + sign * 7.0)
        roots[f"S1 root {side}"] = _tube(points, recess, foramen, ROOT_RADIUS_MM)
        l5_start = to_lps(upper + 12.0, posterior_margin + 6.0, centre_l + sign * 12.0)
        l5_end = to_lps(upper - 2.0, posterior_margin - 6.0, centre_l + sign * (0.5 * width + 16.0))
        roots[f"L5 root {side}"] = _tube(points, l5_start, l5_end, ROOT_RADIUS_MM)
        # Kambin's triangle: above the S1 endplate, lateral to the dura, under the exiting root
        landmarks[f"disc posterolateral {side}"] = to_lps(mid_n, posterior_margin - 0.2 * depth, centre_l + sign * 0.3 * width)
    landmarks["posterior epidural"] = _epidural_target(
        to_lps, lower + 0.25 * height, (lower - 6.0, upper + 6.0), canal_back, sac, bone, affine, posterior_margin, centre_l
    )
    target = np.array([mid_n, centre_p, centre_l])
    if finding.reliable and finding.classification != "normal" and seg.displaced.any():
        d = np.argwhere(seg.displaced)
        toward = np.array([mid_n, p_axis[d[:, 1]].mean(), l_axis[d[:, 2]].mean()])
        target = target + 0.4 * (toward - target)
        target[0] = mid_n
    landmarks["intradiscal"] = to_lps(*target)
    # the sacral canal at S3, for a caudal needle through the hiatus: a model, checked by the physician
    landmarks["sacral canal"] = to_lps(lower - 2.0 * depth, posterior_margin + 0.5 * depth, centre_l)

    masks = {
        "body": body,
        "bone": bone & ~iliac,
        "iliac crest": iliac,
        "thecal sac": sac,
        "L5-S1 disc": disc,
        **roots,
    }
    report(progress, 2, 4, "Distance maps...")
    kinds = {"bone": "bone", "iliac crest": "iliac crest", "thecal sac": "dura", "L5-S1 disc": "disc"}
    structures = []
    for name, mask in masks.items():
        kind = kinds.get(name, "nerve root" if "root" in name else None)
        if kind is None:
            continue
        structures.append(Structure.from_mask(name, kind, mask, affine))
        check(cancel)
    # beyond the planning grid nothing is checked either: its outermost layer counts as not imaged
    unimaged = ~covered
    unimaged[[0, -1], :, :] = unimaged[:, [0, -1], :] = unimaged[:, :, [0, -1]] = True
    structures.append(Structure.from_mask("area outside the imaged volume", "unimaged", unimaged, affine))
    if not iliac.any():
        warnings.append("No iliac crest in the imaged volume: paths near the pelvis are not checked against it.")
    warnings.append(
        "Bone, thecal sac and nerve roots are estimated from the MR (roots modelled from the disc's size); check them on the images."
    )
    report(progress, 4, 4, "")
    return SafetyAnatomy(affine, covered, masks, tuple(structures), landmarks, frame.normal.copy(),
                         frame.lateral.copy(), frame.posterior.copy(), warnings)


#: the posterior epidural target lies this far behind the thecal sac (mm) and at least this far from bone
EPIDURAL_BEHIND_SAC_MM = 1.5
EPIDURAL_BONE_CLEARANCE_MM = 1.5


def _epidural_target(to_lps, nominal_n, n_range, canal_back, sac, bone, affine, posterior_margin, centre_l):
    """The interlaminar target: in the midline, just behind the thecal sac, in the gap between the laminae.

    At each height along the disc normal within ``n_range`` the sac's back is found on the midline ray and
    the point ``EPIDURAL_BEHIND_SAC_MM`` behind it kept when no estimated bone lies within
    ``EPIDURAL_BONE_CLEARANCE_MM``. The kept heights form gaps between the laminae; the target is the middle
    of the gap nearest ``nominal_n`` (a quarter of the disc height over the S1 endplate, where the
    interlaminar window usually is), as far from both laminae as the window allows. Without a sac or a free
    point: the nominal point behind the canal measured at the disc's middle, moved out of bone."""
    shape = np.array(sac.shape[::-1])

    def index_of(point):
        return np.rint((point - affine[:3, 3]) / STEP_MM).astype(int)

    def inside(index):
        return bool(np.all(index >= 0) and np.all(index < shape))

    clearance = int(np.ceil(EPIDURAL_BONE_CLEARANCE_MM / STEP_MM))
    ray_p = np.arange(posterior_margin + 1.0, posterior_margin + 40.0, 0.5)
    heights = np.arange(n_range[0], n_range[1] + 1e-9, 0.5)
    free: list[np.ndarray | None] = []
    for n in heights:
        on_sac = []
        for p in ray_p:
            index = index_of(to_lps(n, p, centre_l))
            on_sac.append(inside(index) and bool(sac[index[2], index[1], index[0]]))
        point = None
        if any(on_sac):
            back = float(ray_p[len(on_sac) - 1 - int(np.argmax(on_sac[::-1]))])
            candidate = to_lps(n, back + EPIDURAL_BEHIND_SAC_MM, centre_l)
            index = index_of(candidate)
            low, high = np.maximum(index - clearance, 0), np.minimum(index + clearance + 1, shape)
            if inside(index) and not bone[low[2]:high[2], low[1]:high[1], low[0]:high[0]].any():
                point = candidate
        free.append(point)
    gaps, start = [], None
    for i, point in enumerate([*free, None]):
        if point is not None and start is None:
            start = i
        elif point is None and start is not None:
            gaps.append((start, i - 1))
            start = None
    if gaps:
        first, last = min(gaps, key=lambda g: max(heights[g[0]] - nominal_n, nominal_n - heights[g[1]], 0.0))
        return free[(first + last) // 2]
    return _nearest_free(to_lps(nominal_n, canal_back + EPIDURAL_BEHIND_SAC_MM, centre_l), bone, affine)


def _nearest_free(point: np.ndarray, bone: np.ndarray, affine: np.ndarray, reach_mm: float = 6.0) -> np.ndarray:
    """``point`` moved to the closest voxel outside ``bone`` within ``reach_mm`` (a target must be in soft tissue)."""
    index = np.rint((point - affine[:3, 3]) / STEP_MM).astype(int)
    shape = np.array(bone.shape[::-1])
    if np.any(index < 0) or np.any(index >= shape) or not bone[index[2], index[1], index[0]]:
        return point
    r = int(np.ceil(reach_mm / STEP_MM))
    best, best_d = point, np.inf
    for dk in range(-r, r + 1):
        for dj in range(-r, r + 1):
            for di in range(-r, r + 1):
                q = index + (di, dj, dk)
                if np.any(q < 0) or np.any(q >= shape) or bone[q[2], q[1], q[0]]:
                    continue
                d = di * di + dj * dj + dk * dk
                if d < best_d:
                    best, best_d = affine[:3, 3] + q * STEP_MM, d
    return best
