"""MR/CT series -> :class:`Volume`: voxels plus the index-to-LPS affine, checked.

Frames (single-frame instances, or the frames of enhanced multi-frame objects
read through their functional groups) are grouped by orientation and by
position along the slice normal. A series is accepted as a volume when it has
one frame of reference and a regular slice step (within
``SPACING_TOLERANCE_MM``); frames repeated at every position (time points,
echoes, inversion times) become several volumes of one geometry. Problems that
still leave a correct volume are returned as ``Volume.warnings``; problems that
would not (a missing slice, two frames of reference) raise
:class:`~planner.errors.InconsistentSeriesError`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from planner.dicom.header import InstanceHeader, read_dataset
from planner.dicom.pixels import FrameSource
from planner.errors import DecodeError, DicomInputError, InconsistentSeriesError
from planner.geometry import affine_from_attributes, orientation_label, slice_normal
from planner.progress import CancelToken, ProgressCallback, check, report

SPACING_TOLERANCE_MM = 0.1
ORIENTATION_TOLERANCE = 1e-3


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D image in the patient frame.

    ``array`` is indexed ``[k, j, i]`` (slice, row, column), with a trailing
    sample axis for colour images. ``image_to_lps`` maps ``(i, j, k, 1)`` to LPS
    mm. Rescale slope/intercept are already applied (float32 when they are not
    the identity).
    """

    array: np.ndarray
    image_to_lps: np.ndarray
    series_instance_uid: str = ""
    frame_of_reference_uid: str = ""
    modality: str = ""
    description: str = ""
    sop_instance_uids: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.array.ndim not in (3, 4):
            raise ValueError(f"a Volume array must be [k, j, i] or [k, j, i, samples], got shape {self.array.shape}")
        affine = np.asarray(self.image_to_lps, dtype=float)
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise ValueError("image_to_lps must be a finite 4x4 matrix")
        if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
            raise ValueError("image_to_lps is singular (zero spacing or parallel axes)")
        object.__setattr__(self, "image_to_lps", affine)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(slices, rows, columns)."""
        return tuple(self.array.shape[:3])

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel size along (i, j, k) in mm."""
        return tuple(float(v) for v in np.linalg.norm(self.image_to_lps[:3, :3], axis=0))

    @property
    def origin_lps(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in self.image_to_lps[:3, 3])

    @property
    def axes_lps(self) -> np.ndarray:
        """Unit direction of i, j, k as columns (3x3)."""
        return self.image_to_lps[:3, :3] / np.array(self.spacing_mm)

    @property
    def orientation(self) -> str:
        axes = self.axes_lps
        return orientation_label(list(axes[:, 0]) + list(axes[:, 1]))

    def window(self, points_lps: np.ndarray, margin: int = 1) -> "tuple[tuple[slice, slice, slice], Volume] | None":
        """The voxels [k, j, i] around ``points_lps`` (N x 3: a region's corners), ``margin`` voxels wider, as
        slices of ``array`` and the sub-volume they make (a view, its own ``image_to_lps``); None when the
        region lies outside the volume. For resampling onto the part of a series where a region lies."""
        points = np.c_[np.asarray(points_lps, float), np.ones(len(points_lps))]
        index = (points @ np.linalg.inv(self.image_to_lps).T)[:, :3]  # (i, j, k)
        size = np.array(self.shape[::-1])
        lo = np.clip(np.floor(index.min(axis=0)).astype(int) - margin, 0, size)
        hi = np.clip(np.ceil(index.max(axis=0)).astype(int) + margin + 1, 0, size)
        if np.any(hi <= lo):
            return None
        shift = np.eye(4)
        shift[:3, 3] = lo
        slices = (slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0]))
        return slices, replace(self, array=self.array[slices], image_to_lps=self.image_to_lps @ shift)


@dataclass(frozen=True)
class _Frame:
    header: InstanceHeader
    index: int  # frame number inside the file
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    spacing: tuple[float, float] | None
    slope: float
    intercept: float
    frame_of_reference_uid: str


def load_volumes(
    headers: Sequence[InstanceHeader],
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[Volume]:
    """All volumes of one series (one per time point/echo when frames repeat per position).

    Raises:
        InconsistentSeriesError: several frames of reference, missing slices,
            irregular spacing, no image geometry on a multi-slice series.
        DecodeError, DicomInputError: a file's pixels cannot be decoded.
    """
    images = [h for h in headers if h.is_image]
    if not images:
        raise DicomInputError(None, "the series holds no image (only SR, PDF or other non-image objects)")
    # one instance copied to two places (a study imported from two folders) is one instance, read once
    unique = list({h.sop_instance_uid: h for h in reversed(images)}.values())[::-1]
    copies = len(images) - len(unique)
    images = unique
    frames = [f for h in images for f in _frames_of(h)]
    series_uid = images[0].series_instance_uid
    warnings: list[str] = list(dict.fromkeys(w for h in images for w in h.warnings))
    if copies:
        warnings.append(f"{copies} files repeat instances of other files (the same SOPInstanceUID): each instance read once")

    references = {f.frame_of_reference_uid for f in frames if f.frame_of_reference_uid}
    if len(references) > 1:
        raise InconsistentSeriesError(
            images[0].path, f"series {series_uid} spans {len(references)} frames of reference; it is not one volume"
        )

    groups = _group_by_orientation(frames)
    if len(groups) > 1:
        labels = ", ".join(f"{orientation_label(o) if o else 'none'} ({len(g)})" for o, g in groups)
        warnings.append(f"series holds {len(groups)} orientations [{labels}]; loaded as separate stacks")
    total = len(frames)
    done = 0
    volumes: list[Volume] = []
    for orientation, members in groups:
        stacks, stack_warnings = _stacks(members, orientation)
        warnings.extend(stack_warnings)
        for stack in stacks:
            check(cancel)
            volumes.append(_build_volume(stack, orientation, images[0], warnings))
            done += len(stack)
            report(progress, done, total, "Decoding slices")
    return volumes


def load_volume(headers: Sequence[InstanceHeader], **kwargs) -> Volume:
    """The first (largest) volume of a series; a warning says when there are more."""
    volumes = load_volumes(headers, **kwargs)
    volumes.sort(key=lambda v: -v.shape[0])
    first = volumes[0]
    if len(volumes) > 1:
        note = f"series holds {len(volumes)} volumes (time points, echoes or stacks); the first of {first.shape[0]} slices is shown"
        first = Volume(**{**first.__dict__, "warnings": first.warnings + (note,)})
    return first


def _frames_of(header: InstanceHeader) -> list[_Frame]:
    if not header.is_enhanced or header.n_frames == 1:
        slope, intercept = _rescale_of(header)
        return [
            _Frame(header, i, header.image_position_lps, header.image_orientation, header.pixel_spacing_mm, slope, intercept, header.frame_of_reference_uid)
            for i in range(header.n_frames)
        ]
    ds = read_dataset(header.path, stop_before_pixels=True)
    shared = (ds.get("SharedFunctionalGroupsSequence") or [None])[0]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    frames = []
    for i in range(header.n_frames):
        item = per_frame[i] if i < len(per_frame) else None
        position = _fg_value(item, shared, "PlanePositionSequence", "ImagePositionPatient", 3)
        orientation = _fg_value(item, shared, "PlaneOrientationSequence", "ImageOrientationPatient", 6)
        spacing = _fg_value(item, shared, "PixelMeasuresSequence", "PixelSpacing", 2)
        slope = _fg_value(item, shared, "PixelValueTransformationSequence", "RescaleSlope", 1)
        intercept = _fg_value(item, shared, "PixelValueTransformationSequence", "RescaleIntercept", 1)
        frames.append(
            _Frame(
                header,
                i,
                position or header.image_position_lps,
                orientation or header.image_orientation,
                spacing or header.pixel_spacing_mm,
                slope[0] if slope else 1.0,
                intercept[0] if intercept else 0.0,
                header.frame_of_reference_uid,
            )
        )
    return frames


def _fg_value(item, shared, sequence: str, keyword: str, count: int):
    for source in (item, shared):
        if source is None:
            continue
        inner = source.get(sequence)
        if inner:
            value = inner[0].get(keyword)
            if value is not None and value != "":
                try:
                    numbers = tuple(float(v) for v in (value if count > 1 else [value]))
                except (TypeError, ValueError):
                    continue
                if len(numbers) == count:
                    return numbers
    return None


def _rescale_of(header: InstanceHeader) -> tuple[float, float]:
    if header.modality == "US":
        return 1.0, 0.0
    return header.rescale_slope, header.rescale_intercept


def _group_by_orientation(frames: list[_Frame]) -> list[tuple[tuple[float, ...] | None, list[_Frame]]]:
    groups: list[tuple[tuple[float, ...] | None, list[_Frame]]] = []
    for frame in frames:
        for orientation, members in groups:
            if orientation is None and frame.orientation is None:
                members.append(frame)
                break
            if orientation is not None and frame.orientation is not None and np.allclose(orientation, frame.orientation, atol=ORIENTATION_TOLERANCE):
                members.append(frame)
                break
        else:
            groups.append((frame.orientation, [frame]))
    groups.sort(key=lambda g: -len(g[1]))
    return groups


def _stacks(frames: list[_Frame], orientation) -> tuple[list[list[_Frame]], list[str]]:
    """Sort frames along the normal; split repeated positions into several stacks."""
    warnings: list[str] = []
    if orientation is None or any(f.position is None for f in frames):
        if len(frames) > 1 and len({(f.header.path) for f in frames}) > 1:
            warnings.append("no ImagePositionPatient/ImageOrientationPatient: frames are stacked in file order with 1 mm steps")
        return [frames], warnings
    normal = slice_normal(orientation)
    by_position: dict[float, list[_Frame]] = defaultdict(list)
    for frame in frames:
        distance = float(np.dot(normal, frame.position))
        key = round(distance / 0.01) * 0.01
        by_position[key].append(frame)
    positions = sorted(by_position)
    counts = {len(v) for v in by_position.values()}
    per_position = min(counts)
    if len(counts) > 1:
        warnings.append(
            f"positions hold different numbers of frames ({sorted(counts)}): duplicates ignored, {per_position} kept per position"
        )
    elif per_position > 1:
        warnings.append(f"{per_position} frames at each of {len(positions)} positions: loaded as {per_position} volumes")
    stacks = []
    for n in range(per_position):
        stack = []
        for key in positions:
            members = sorted(by_position[key], key=lambda f: (f.header.instance_number or 0, f.header.path, f.index))
            stack.append(members[n])
        stacks.append(stack)
    return stacks, warnings


def _build_volume(stack: list[_Frame], orientation, first: InstanceHeader, warnings: list[str]) -> Volume:
    reference = stack[0]
    spacing = reference.spacing
    volume_warnings = list(warnings)
    if spacing is None:
        spacing = (1.0, 1.0)
        volume_warnings.append("no PixelSpacing: 1 mm pixels assumed; lengths on this image are not calibrated")
    if orientation is None or reference.position is None:
        affine = affine_from_attributes((0, 0, 0), (1, 0, 0, 0, 1, 0), spacing, (0, 0, 1))
        if orientation is None:
            volume_warnings.append("no patient orientation: shown in image axes, not in the patient frame")
    else:
        if len(stack) > 1:
            step = _regular_step(stack, orientation, reference.header.path)
        else:
            thickness = reference.header.slice_thickness_mm
            step = slice_normal(orientation) * (thickness if thickness and thickness > 0 else 1.0)
        affine = affine_from_attributes(reference.position, orientation, spacing, step)

    sources: dict[str, FrameSource] = {}
    first_source = _source(stack[0], sources)
    frame_shape = first_source.frame_shape
    rescaled = any(f.slope != 1.0 or f.intercept != 0.0 for f in stack)
    if rescaled:
        dtype = np.dtype(np.float32)
    else:
        dtype = first_source.native_dtype or first_source.frame(stack[0].index).dtype
    try:
        array = np.empty((len(stack), *frame_shape), dtype=dtype)
    except MemoryError as exc:
        size = len(stack) * int(np.prod(frame_shape)) * dtype.itemsize
        raise DecodeError(first.path, f"the series needs {size / 2**30:.1f} GB in memory to load: more than is "
                                      "available (or a size its header claims falsely)") from exc
    for k, frame in enumerate(stack):
        source = _source(frame, sources)
        if source.frame_shape != frame_shape:
            raise InconsistentSeriesError(frame.header.path, f"frame size {source.frame_shape} differs from {frame_shape} in the same series")
        if rescaled:
            pixels = source.frame(frame.index)
            np.multiply(pixels, frame.slope, out=array[k], casting="unsafe")
            array[k] += frame.intercept
        else:
            source.frame_into(frame.index, array[k])
    return Volume(
        array=array,
        image_to_lps=affine,
        series_instance_uid=first.series_instance_uid,
        frame_of_reference_uid=first.frame_of_reference_uid,
        modality=first.modality,
        description=first.series_description,
        sop_instance_uids=tuple(f.header.sop_instance_uid for f in stack),
        warnings=tuple(dict.fromkeys(volume_warnings)),
    )


def _source(frame: _Frame, sources: dict[str, FrameSource]) -> FrameSource:
    source = sources.get(frame.header.path)
    if source is None:
        source = sources[frame.header.path] = FrameSource(frame.header)
    return source


def _regular_step(stack: list[_Frame], orientation, path: str) -> np.ndarray:
    """The vector between consecutive slice positions; raise on gaps and irregular steps."""
    positions = np.array([f.position for f in stack], dtype=float)
    steps = np.diff(positions, axis=0)
    distances = np.linalg.norm(steps, axis=1)
    median = float(np.median(distances))
    if median <= 0:
        raise InconsistentSeriesError(path, "slices share one position; no slice spacing can be derived")
    deviation = np.abs(distances - median)
    worst = int(np.argmax(deviation))
    tolerance = max(SPACING_TOLERANCE_MM, 0.05 * median)
    if deviation[worst] > tolerance:
        ratio = distances[worst] / median
        if ratio > 1.5:
            missing = int(round(ratio)) - 1
            raise InconsistentSeriesError(
                path,
                f"missing slice: a gap of {distances[worst]:.2f} mm between slices {worst + 1} and {worst + 2} "
                f"where the step is {median:.2f} mm ({missing} slice(s) missing)",
            )
        raise InconsistentSeriesError(
            path, f"irregular slice spacing: {distances[worst]:.2f} mm between slices {worst + 1} and {worst + 2}, median {median:.2f} mm"
        )
    # The true step, not normal x spacing: a tilted (sheared) stack keeps its real positions.
    return (positions[-1] - positions[0]) / (len(stack) - 1)
