"""Which of a study's series does what: one rule for the CLI, the workstation and the export (issue 25).

    roles = assign_roles(series)            # {series UID: [InstanceHeader, ...]} of one study
    roles.sagittal                          # the MR series the levels are counted on
    roles.axials                            # MR series across the spine in its world: displacement measured there
    roles.anatomy                           # every other MR series in its world: the safety anatomy's inputs
    roles.excluded                          # {series UID: the sentence saying why it is not used}

Series are judged by their headers (no pixels are read): the sagittal series is
the MR series whose slices look along the patient's left-right axis (within 20°),
with at least 5 slices, a "T2" in its description preferred, then the most
slices. Another series shares its world only with the same, non-blank Frame of
Reference UID: a blank one (a value that could not be read) is not a registration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from planner.dicom.header import InstanceHeader
from planner.geometry import orientation_label

MIN_SAGITTAL_SLICES = 5


@dataclass(frozen=True)
class SeriesRoles:
    sagittal: str | None
    axials: tuple[str, ...] = ()
    anatomy: tuple[str, ...] = ()
    excluded: Mapping[str, str] = field(default_factory=dict)

    def warnings(self) -> list[str]:
        """One sentence per MR series left out."""
        return list(self.excluded.values())


def series_name(headers: Sequence[InstanceHeader]) -> str:
    first = headers[0]
    return first.series_description or f"series {first.series_number or first.series_instance_uid}"


def orientation(headers: Sequence[InstanceHeader]) -> str:
    """"SAG", "COR", "AX", "OBL", or "" when the images have none or several."""
    labels = {orientation_label(h.image_orientation) for h in headers if h.is_image and h.image_orientation}
    return labels.pop() if len(labels) == 1 else ""


def n_slices(headers: Sequence[InstanceHeader]) -> int:
    return sum(max(h.n_frames, 1) for h in headers if h.is_image)


def _is_mr_image(headers: Sequence[InstanceHeader]) -> bool:
    return bool(headers) and headers[0].modality == "MR" and any(h.is_image for h in headers)


def sagittal_candidates(series: Mapping[str, Sequence[InstanceHeader]]) -> list[str]:
    """The MR series the levels can be counted on, best first."""
    found = [uid for uid, headers in series.items()
             if _is_mr_image(headers) and orientation(headers) == "SAG" and n_slices(headers) >= MIN_SAGITTAL_SLICES]
    return sorted(found, key=lambda uid: ("T2" not in (series[uid][0].series_description or "").upper(),
                                          -n_slices(series[uid]), uid))


def assign_roles(series: Mapping[str, Sequence[InstanceHeader]], sagittal: str | None = None) -> SeriesRoles:
    """The roles of one study's series; ``sagittal`` names the analysed series when the user chose it."""
    if sagittal is None:
        candidates = sagittal_candidates(series)
        sagittal = candidates[0] if candidates else None
    if sagittal is None or sagittal not in series:
        return SeriesRoles(None, excluded={uid: f"MR series '{series_name(h)}' not used: no sagittal MR series "
                                                f"(at least {MIN_SAGITTAL_SLICES} slices) to count the levels on"
                                           for uid, h in series.items() if _is_mr_image(h)})
    world = series[sagittal][0].frame_of_reference_uid
    axials, anatomy, excluded = [], [], {}
    for uid, headers in series.items():
        if uid == sagittal or not _is_mr_image(headers):
            continue
        other = headers[0].frame_of_reference_uid
        if not world or other != world:
            why = ("the analysed series has no Frame of Reference UID" if not world else
                   "it has no Frame of Reference UID" if not other else "another frame of reference")
            excluded[uid] = f"MR series '{series_name(headers)}' not used: {why}"
            continue
        anatomy.append(uid)
        if orientation(headers) in ("AX", "OBL"):
            axials.append(uid)
    return SeriesRoles(sagittal, tuple(axials), tuple(anatomy), excluded)
