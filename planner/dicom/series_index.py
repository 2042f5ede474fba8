"""What a series is, decided from its instance headers: MR volume or slice, US cine or image, other.

Kinds (the vocabulary of ``main.py import --json``):

* ``mr-volume``: MR slices (or enhanced MR frames) at two or more positions;
* ``mr-slice``: one MR image (one position);
* ``us-single`` / ``us-cine``: ultrasound with one / several frames;
* ``other``: everything else: non-image objects (SR, SEG, PDF, KO, PR) and images of
  other modalities (CT, CR, XA, ...). ``is_image`` tells whether it has pixels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

from planner.dicom.header import InstanceHeader, region_from_json
from planner.geometry import orientation_label
from planner.viewing.us_calibration import UltrasoundRegion

US_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.3.1", "1.2.840.10008.5.1.4.1.1.6.2"}


@dataclass(frozen=True)
class SeriesSummary:
    """One series as the study browser and ``import --json`` show it."""

    series_instance_uid: str
    study_instance_uid: str
    modality: str
    kind: str
    description: str
    series_number: int | None
    n_instances: int
    n_frames: int
    files: tuple[str, ...]
    is_image: bool
    us_regions: tuple[UltrasoundRegion, ...] | None
    orientation: str = ""
    warnings: tuple[str, ...] = ()

    def as_json(self) -> dict:
        return {
            "series_instance_uid": self.series_instance_uid,
            "study_instance_uid": self.study_instance_uid,
            "modality": self.modality,
            "kind": self.kind,
            "description": self.description,
            "series_number": self.series_number,
            "orientation": self.orientation,
            "n_instances": self.n_instances,
            "n_frames": self.n_frames,
            "is_image": self.is_image,
            "files": list(self.files),
            "us_regions": None if self.us_regions is None else [r.as_json() for r in self.us_regions],
            "warnings": list(self.warnings),
        }


def summary_to_json(summary: SeriesSummary) -> dict:
    """A JSON-safe dict of ``summary``, lossless (the study database keeps it; :meth:`SeriesSummary.as_json`
    is the shorter form shown to users)."""
    data = dataclasses.asdict(summary)
    data["us_regions"] = None if summary.us_regions is None else [dataclasses.asdict(r) for r in summary.us_regions]
    return data


def summary_from_json(data: dict) -> SeriesSummary:
    """Inverse of :func:`summary_to_json`."""
    regions = data.get("us_regions")
    return SeriesSummary(
        **{
            **data,
            "files": tuple(data["files"]),
            "us_regions": None if regions is None else tuple(region_from_json(r) for r in regions),
            "warnings": tuple(data.get("warnings", ())),
        }
    )


def is_ultrasound(header: InstanceHeader) -> bool:
    return header.modality == "US" or header.sop_class_uid in US_SOP_CLASSES


def series_kind(headers: Sequence[InstanceHeader]) -> str:
    """Classify a series from its instances (all of one SeriesInstanceUID)."""
    images = [h for h in headers if h.is_image]
    if not images:
        return "other"
    if all(is_ultrasound(h) for h in images):
        return "us-cine" if any(h.n_frames > 1 for h in images) else "us-single"
    if all(h.modality == "MR" for h in images):
        return "mr-volume" if n_positions(images) > 1 else "mr-slice"
    return "other"


def n_positions(headers: Sequence[InstanceHeader]) -> int:
    """Distinct slice positions (rounded to 0.01 mm) in single-frame headers; enhanced frames count as positions."""
    enhanced_frames = max((h.n_frames for h in headers if h.is_enhanced), default=0)
    positions = {
        tuple(round(v, 2) for v in h.image_position_lps)
        for h in headers
        if h.image_position_lps is not None and not h.is_enhanced
    }
    return max(len(positions), 1 if headers else 0, enhanced_frames if enhanced_frames > 1 else 0)


def summarize(headers: Sequence[InstanceHeader]) -> SeriesSummary:
    """The :class:`SeriesSummary` of one series' instance headers (non-empty)."""
    ordered = sorted(headers, key=lambda h: (h.instance_number if h.instance_number is not None else 1 << 30, h.path))
    first = ordered[0]
    kind = series_kind(ordered)
    regions: tuple[UltrasoundRegion, ...] | None = None
    if kind.startswith("us-"):
        seen: list[UltrasoundRegion] = []
        for h in ordered:
            seen.extend(r for r in h.us_regions if r not in seen)
        regions = tuple(seen)
    distinct = {h.image_orientation for h in ordered if h.image_orientation}
    orientations = {orientation_label(o) for o in distinct}
    warnings = tuple(dict.fromkeys(w for h in ordered for w in h.warnings))
    return SeriesSummary(
        series_instance_uid=first.series_instance_uid,
        study_instance_uid=first.study_instance_uid,
        modality=first.modality,
        kind=kind,
        description=first.series_description,
        series_number=first.series_number,
        n_instances=len(ordered),
        n_frames=sum(max(h.n_frames, 1) if h.is_image else 0 for h in ordered),
        files=tuple(h.path for h in ordered),
        is_image=any(h.is_image for h in ordered),
        us_regions=regions,
        orientation="/".join(sorted(orientations)),
        warnings=warnings,
    )
