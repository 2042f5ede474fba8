"""``main.py analyze``: level finding, disc segmentation and bulge analysis of one study (issue 4).

    result = analyze_study("study/", "out/")  # writes out/analysis.json and out/l5s1_disc_seg.dcm

The study's series are given their roles by :mod:`planner.study.roles` (the
same rule as the workstation and the export): the sagittal MR series is
analysed; an axial series in its world, parallel to the L5-S1 disc and covering
it, is where its displaced material is measured (``displacement_series`` in
``analysis.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.disc import segmenters
from planner.disc.model import DiscAnalysis, DiscAnalysisError
from planner.errors import AnalysisError
from planner.study.session import StudySession
from planner.volume import Volume


@dataclass
class StudySeries:
    uid: str
    description: str
    headers: list
    volume: Volume | None


@dataclass
class StudyAnalysis:
    """One study analysed: the session it came from, the sagittal series analysed, the axial ones through L5-S1."""

    session: StudySession
    sagittal: StudySeries
    axial: list[StudySeries]
    analysis: DiscAnalysis

    @property
    def warnings(self) -> list[str]:
        """A sentence for each series of the study that could not be used, and why."""
        return self.session.warnings


def analyze_study_series(study_path, level_shift: int = 0, segmenter: str = segmenters.DEFAULT,
                         session: StudySession | None = None, l5s1_lps=None) -> StudyAnalysis:
    """Analyse the study's sagittal MR series (:class:`~planner.study.session.StudySession` chooses it and the
    axial series), with L5-S1 where the user marked it when ``l5s1_lps`` is given; :class:`AnalysisError` says
    what is missing."""
    session = session or StudySession.from_path(study_path)
    try:
        analysis = session.analyse(level_shift=level_shift, segmenter=segmenter, l5s1_lps=l5s1_lps)
    except DiscAnalysisError as exc:
        raise AnalysisError(f"{study_path}: {exc}") from exc

    def described(uid: str) -> StudySeries:
        headers = session.series[uid]
        return StudySeries(uid, headers[0].series_description, headers, session.volume(uid) if uid == sagittal else None)

    sagittal = session.roles.sagittal
    return StudyAnalysis(session, described(sagittal), [described(uid) for uid in session.axial_series(analysis)], analysis)


def analyze_study(study_path, out_dir, level_shift: int = 0, segmenter: str = segmenters.DEFAULT,
                  l5s1_lps=None) -> dict:
    """Analyse the study at ``study_path`` (L5-S1 where the user marked it: ``l5s1_lps``); write and return
    ``analysis.json``'s content."""
    return write_analysis(analyze_study_series(study_path, level_shift, segmenter, l5s1_lps=l5s1_lps), out_dir)


def write_analysis(study: StudyAnalysis, out_dir) -> dict:
    """Write ``analysis.json`` and ``l5s1_disc_seg.dcm`` of an analysed study; return the JSON content."""
    sag, axial, analysis = study.sagittal, study.axial, study.analysis
    levels, seg, finding = analysis.levels, analysis.segmentation, analysis.finding
    masks = analysis.series_masks()
    mask = masks.get("L5-S1 disc", np.zeros(sag.volume.shape, bool))
    center = np.argwhere(mask).mean(axis=0) if mask.any() else None
    voxel_ml = float(np.prod(sag.volume.spacing_mm)) / 1000.0
    result = {
        "level": "L5-S1",
        "level_confidence": levels.confidence,
        "level_confidence_reasons": list(levels.confidence_reasons),
        "series_warnings": list(study.warnings),
        "level_shift": levels.level_shift,
        "l5s1_marked_lps": list(analysis.marked_lps) if analysis.marked_lps is not None else None,
        **finding.as_dict(),
        "disc_volume_ml": round(seg.volume_ml(), 2),
        "bodies": {
            name.split()[0]: {
                "volume_ml": round(float(m.sum()) * voxel_ml, 1),
                "center_lps": [round(float(v), 2) for v in (sag.volume.image_to_lps @ np.r_[np.argwhere(m).mean(axis=0)[::-1], 1.0])[:3]],
            }
            for name, m in masks.items()
            if name != "L5-S1 disc"
        },
        "levels": [
            {
                "name": level.name,
                "center_lps": [round(v, 2) for v in level.center_lps],
                "normal_lps": [round(v, 4) for v in level.normal_lps],
                "height_mm": round(level.height_mm, 1),
            }
            for level in levels.levels
        ],
        "series": {
            "sagittal": sag.uid,
            "axial": axial[0].uid if axial else None,
        },
        "segmenter": analysis.segmenter,
        "warnings": levels.warnings + seg.warnings + finding.warnings,
    }
    if center is not None:
        lps = sag.volume.image_to_lps @ np.r_[center[::-1], 1.0]
        result["disc_center_lps"] = [round(float(v), 2) for v in lps[:3]]
    result["displacement_series"] = seg.displacement_series
    if not axial:
        result["warnings"].append("No axial series through L5-S1: the analysis used the sagittal series reformatted.")
    elif analysis.axial is None:
        result["warnings"].append(
            "The axial series through L5-S1 do not cover the disc or are not parallel to it: displacement was "
            "measured on the sagittal series reformatted."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if mask.any():
        from planner.dicom.seg import write_segmentation

        write_segmentation(sag.volume, sag.headers, masks, out / "l5s1_disc_seg.dcm", algorithm=analysis.segmenter)
    else:
        result["warnings"].append("The disc mask is empty on the sagittal grid: no SEG written.")
    (out / "analysis.json").write_text(json.dumps(result, indent=1))
    return result
