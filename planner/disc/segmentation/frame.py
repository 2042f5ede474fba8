"""The disc's own frame (0.5 mm, axes: the normal, posterior, the patient's left) and a segmentation in it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import SimpleITK as sitk

from planner.disc.levels import sitk_image
from planner.disc.segmentation.masks import STEP_MM, _erode2d
from planner.errors import SegmentationFailed  # noqa: F401 - re-exported where it was defined
from planner.volume import Volume

LATERAL_MM = (-40.0, 40.0)
POSTERIOR_MM = (-38.0, 45.0)
NORMAL_MM = (-26.0, 26.0)


@dataclass(frozen=True)
class DiscFrame:
    """A grid aligned with a disc: array index [normal, posterior, lateral], ``STEP_MM`` apart."""

    center_lps: np.ndarray
    lateral: np.ndarray  # patient left (+x), orthogonal to the normal
    posterior: np.ndarray
    normal: np.ndarray  # superior

    @classmethod
    def around(cls, center_lps, normal_lps) -> "DiscFrame":
        normal = np.asarray(normal_lps, float) / np.linalg.norm(normal_lps)
        lateral = np.array([1.0, 0.0, 0.0]) - normal[0] * normal
        lateral /= np.linalg.norm(lateral)
        posterior = np.cross(normal, lateral)  # (n x l): for n = +z, l = +x gives +y, posterior
        return cls(np.asarray(center_lps, float), lateral, posterior, normal)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(round((hi - lo) / STEP_MM)) + 1 for lo, hi in (NORMAL_MM, POSTERIOR_MM, LATERAL_MM))

    def axis_mm(self, axis: int) -> np.ndarray:
        lo, hi = (NORMAL_MM, POSTERIOR_MM, LATERAL_MM)[axis]
        return lo + STEP_MM * np.arange(self.shape[axis])

    def reference(self) -> sitk.Image:
        n, p, l = self.shape
        image = sitk.Image([l, p, n], sitk.sitkUInt8)
        image.SetSpacing([STEP_MM] * 3)
        image.SetDirection(np.column_stack([self.lateral, self.posterior, self.normal]).ravel().tolist())
        origin = self.center_lps + LATERAL_MM[0] * self.lateral + POSTERIOR_MM[0] * self.posterior + NORMAL_MM[0] * self.normal
        image.SetOrigin(origin.tolist())
        return image

    def to_lps(self, n_mm, p_mm, l_mm) -> np.ndarray:
        return (
            self.center_lps
            + np.asarray(n_mm, float)[..., None] * self.normal
            + np.asarray(p_mm, float)[..., None] * self.posterior
            + np.asarray(l_mm, float)[..., None] * self.lateral
        )

    def covered_columns(self, volume: Volume, margin_mm: float = 1.0) -> np.ndarray:
        """[posterior, lateral]: the columns whose disc-plane point lies inside the series, ``margin_mm`` in."""
        p_mm, l_mm = self.axis_mm(1), self.axis_mm(2)
        points = self.to_lps(0.0, p_mm[:, None], l_mm[None, :])
        ijk = (points - volume.image_to_lps[:3, 3]) @ np.linalg.inv(volume.image_to_lps[:3, :3]).T
        spacing = np.asarray(volume.spacing_mm)
        size = np.asarray(volume.shape[::-1], float)
        return np.all((ijk >= -0.5 + margin_mm / spacing) & (ijk <= size - 0.5 - margin_mm / spacing), axis=-1)

    def sample(self, volume: Volume) -> np.ndarray:
        """The series resampled onto this frame (float32, linear; 0 outside the series)."""
        return sitk.GetArrayFromImage(
            sitk.Resample(sitk_image(volume), self.reference(), sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        )


@dataclass
class DiscSegmentation:
    """The L5-S1 disc in its frame: masks [normal, posterior, lateral] and the endplate surfaces.

    ``upper_mm``/``lower_mm`` [posterior, lateral]: where the disc meets the L5
    and S1 endplates (NaN outside the outline); ``outline`` [posterior,
    lateral]: the endplate outline; ``disc``: the whole disc including
    displaced material; ``displaced``: only what lies beyond the outline.
    """

    frame: DiscFrame
    image: np.ndarray
    marrow: float
    outline: np.ndarray
    upper_mm: np.ndarray
    lower_mm: np.ndarray
    disc: np.ndarray
    displaced: np.ndarray
    l5_body: np.ndarray
    s1_body: np.ndarray
    warnings: list[str] = field(default_factory=list)
    covered: np.ndarray | None = None  # [posterior, lateral]: columns inside the series (None: all)
    displacement_series: str = "sagittal"  # where the displaced material was grown: "sagittal" or "axial"
    #: the image it was grown on, in the frame (smoothed; an axial series scaled to the disc's sagittal signal)
    displacement_image: np.ndarray | None = None

    def series_mask(self, volume: Volume, mask: np.ndarray | None = None, whole_voxels: bool = False) -> np.ndarray:
        """``mask`` (default: the disc, its surfaces at the endplates found: :meth:`occupancy`) on the grid of
        ``volume``: bool [k, j, i]. ``whole_voxels``: the disc's frame voxels taken whole."""
        surfaces = mask is None and not whole_voxels
        mask = self.disc if mask is None else mask
        out = np.zeros(volume.shape, bool)
        if not mask.any():
            return out
        # only the series' voxels around the mask are resampled
        where = np.nonzero(mask)
        ends = [(int(w.min()) - 1, int(w.max()) + 1) for w in where]  # n, p, l indices
        corners = np.array([(a, b, c) for a in ends[0] for b in ends[1] for c in ends[2]], float)
        corners_mm = (self.frame.axis_mm(a)[0] + corners[:, a] * STEP_MM for a in range(3))
        window = volume.window(self.frame.to_lps(*corners_mm), margin=2)
        if window is None:
            return out
        slices, sub = window
        source = sitk.GetImageFromArray(self.occupancy() if surfaces else mask.astype(np.float32))
        source.CopyInformation(self.frame.reference())
        resampled = sitk.Resample(source, sitk_image(sub), sitk.Transform(), sitk.sitkLinear, 0.0)  # its geometry
        out[slices] = sitk.GetArrayFromImage(resampled) >= 0.5
        return out

    def core(self) -> np.ndarray:
        """The disc within its endplate outline: the columns of the outline, between the two endplates."""
        n_grid = self.frame.axis_mm(0)[:, None, None]
        upper = np.where(self.outline, self.upper_mm, -np.inf)[None]
        lower = np.where(self.outline, self.lower_mm, np.inf)[None]
        return self.outline[None] & (n_grid >= lower - 1e-6) & (n_grid <= upper + 1e-6)

    def occupancy(self) -> np.ndarray:
        """The share of each frame voxel (float32, 0-1) the disc fills, from the endplate surfaces where the
        mask follows them: a voxel STEP_MM high whose centre lies on an endplate is half disc. The mask's
        voxels are whole; were they resampled whole, the surface would lie a quarter of a voxel beyond the
        endplate found wherever it fell on a voxel's centre, as the cortex rule puts it (0.5 mm beyond the
        darkest point), making a 6 mm disc 0.5 mm too high. Where the mask was edited off the surfaces (a
        brush), its own voxels count whole."""
        n_grid = self.frame.axis_mm(0)[:, None, None]
        with np.errstate(invalid="ignore"):
            ramp = np.clip((self.upper_mm[None] - n_grid) / STEP_MM + 0.5, 0.0, 1.0) * np.clip(
                (n_grid - self.lower_mm[None]) / STEP_MM + 0.5, 0.0, 1.0
            )
        ramp = np.where(self.outline[None] & np.isfinite(ramp), ramp, 0.0).astype(np.float32)
        # the surfaces' share where the mask agrees with them (the voxel on the same side of half), else the mask
        return np.where((ramp >= 0.5) == self.disc, ramp, self.disc.astype(np.float32))

    def set_disc(self, disc: np.ndarray) -> None:
        """Replace the disc mask (an edit); the displaced part is what lies outside the core."""
        if disc.shape != self.disc.shape:
            raise ValueError(f"disc mask shape {disc.shape} is not the frame's {self.disc.shape}")
        self.disc = disc.astype(bool, copy=False)
        self.displaced = self.disc & ~self.core()

    def copy(self) -> "DiscSegmentation":
        """An independent copy of the masks (the image and frame are shared: they never change)."""
        return replace(self, disc=self.disc.copy(), displaced=self.displaced.copy(), warnings=list(self.warnings))

    def endplate_planes_mm(self) -> tuple[float, float]:
        """(upper, lower): where the disc meets L5 and S1 near the rim, along the normal (mm)."""
        return endplate_planes_mm(self.outline, self.upper_mm, self.lower_mm)

    def volume_ml(self) -> float:
        return float(self.occupancy().sum()) * STEP_MM**3 / 1000.0

    def geometry(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(centre LPS, superior normal LPS, height mm) of the segmented disc space: the centre half way
        between the endplate planes over the outline's centroid, the height the median over the central
        columns (within 8 mm of the midline), finer than the mid-sagittal search that found the level."""
        p_mm, l_mm = self.frame.axis_mm(1), self.frame.axis_mm(2)
        top, bottom = self.endplate_planes_mm()
        rows, cols = np.nonzero(self.outline)
        centre = self.frame.to_lps((top + bottom) / 2, float(p_mm[rows].mean()), float(l_mm[cols].mean()))
        central = self.outline & (np.abs(l_mm) <= 8.0)[None, :]
        heights = (self.upper_mm - self.lower_mm)[central if central.any() else self.outline]
        return np.asarray(centre, float), self.frame.normal.copy(), float(np.median(heights))


def fitted_plane_mm(surface_mm: np.ndarray, where: np.ndarray, p_mm: np.ndarray, l_mm: np.ndarray) -> np.ndarray:
    """[posterior, lateral]: the plane ``a + b p + c l`` fitted by least squares through ``surface_mm`` over the
    columns ``where``, over every column (robust fits call it round by round with their inliers)."""
    p_grid, l_grid = np.meshgrid(p_mm, l_mm, indexing="ij")
    design = np.column_stack([np.ones(where.sum()), p_grid[where], l_grid[where]])
    coefficients, *_ = np.linalg.lstsq(design, surface_mm[where], rcond=None)
    return coefficients[0] + coefficients[1] * p_grid + coefficients[2] * l_grid


def endplate_planes_mm(outline: np.ndarray, upper_mm: np.ndarray, lower_mm: np.ndarray) -> tuple[float, float]:
    """The median of each endplate surface over the outline's outer 2 mm."""
    rim = outline & ~_erode2d(outline, 4)
    upper, lower = upper_mm[rim], lower_mm[rim]
    if not (np.isfinite(upper).any() and np.isfinite(lower).any()):
        raise SegmentationFailed("no endplate surfaces along the outline's rim (a body is cut by the series' edge?)")
    return float(np.nanmedian(upper)), float(np.nanmedian(lower))
