"""Load a series into its in-memory model: MR/CT -> Volume(s), ultrasound -> UltrasoundClip(s).

Used by the study browser (headers from the database) and by ``main.py info``
(headers read from a file or folder directly).
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

from planner.dicom.header import InstanceHeader, read_header
from planner.dicom.importer import collect_files
from planner.dicom.series_index import is_ultrasound, series_kind
from planner.errors import DicomInputError
from planner.logs import protect
from planner.progress import CancelToken, ProgressCallback
from planner.viewing.ultrasound import UltrasoundClip
from planner.volume import Volume, load_volumes


@dataclass
class LoadedSeries:
    """A loaded series: ``volumes`` for cross-sectional images, ``clips`` for ultrasound."""

    kind: str
    headers: list[InstanceHeader]
    volumes: list[Volume] = field(default_factory=list)
    clips: list[UltrasoundClip] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        found = [w for v in self.volumes for w in v.warnings] + [w for c in self.clips for w in c.header.warnings]
        return list(dict.fromkeys(found))


def load_series(
    headers: Sequence[InstanceHeader],
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LoadedSeries:
    """Load one series' instances.

    Raises:
        DicomInputError (and subclasses): non-image series, undecodable pixels,
            inconsistent geometry.
    """
    images = [h for h in headers if h.is_image]
    kind = series_kind(list(headers))
    if not images:
        path = headers[0].path if headers else None
        raise DicomInputError(path, "is not an image object (SR, PDF, KO, PR or similar); it is indexed but not displayed")
    if all(is_ultrasound(h) for h in images):
        clips = [UltrasoundClip(h) for h in sorted(images, key=lambda h: (h.instance_number or 0, h.path))]
        for clip in clips:
            clip.frame(0)  # decode one frame now so a broken file fails here, not in the viewer
        return LoadedSeries(kind, list(headers), clips=clips)
    return LoadedSeries(kind, list(headers), volumes=load_volumes(images, progress=progress, cancel=cancel))


def read_path_series(path: str | os.PathLike) -> tuple[dict[str, list[InstanceHeader]], list[tuple[str, str]]]:
    """Headers of every file under ``path`` grouped by SeriesInstanceUID, plus (path, reason) rejections."""
    if not os.path.exists(path):
        raise DicomInputError(path, "does not exist")
    files, early = collect_files([path], archive_root=_scratch_archive_root(), cancel=None)
    series: dict[str, list[InstanceHeader]] = defaultdict(list)
    rejected = [(r.path, r.reason) for r in early]
    for file in files:
        try:
            header = read_header(file)
        except DicomInputError as exc:
            rejected.append((file, exc.reason))
            continue
        if header.kind != "dicomdir":
            protect(header.patient_name, header.patient_id)  # never to be written to the log
            series[header.series_instance_uid].append(header)
    return dict(series), rejected


def _scratch_archive_root():
    import pathlib
    import tempfile

    return pathlib.Path(tempfile.gettempdir()) / "spine-planner-archives"
