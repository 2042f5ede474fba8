"""``main.py analyze``: level finding, disc segmentation and bulge analysis of one study (issue 4).

    result = analyze_study("study/", "out/")  # writes out/analysis.json and out/l5s1_disc_seg.dcm

The study's series are found by geometry, not by name: the sagittal MR series
with the most slices through the spine is analysed; an axial series parallel
to the L5-S1 disc that covers it is where its displaced material is measured
(``displacement_series`` in ``analysis.json``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from planner import segmenters
from planner.disc_model import DiscAnalysis, DiscAnalysisError, analyze_volume
from planner.errors import AnalysisError, PlannerError
from planner.loader import load_series, read_path_series
from planner.mpr import contains
from planner.volume import Volume


@dataclass
class StudySeries:
    uid: str
    description: str
    headers: list
    volume: Volume


def _mr_volumes(path) -> tuple[list[StudySeries], list[tuple[str, str]], list[str]]:
    """The study's MR volumes, the files rejected, and a sentence for each MR series that could not be used."""
    series, rejected = read_path_series(path)
    found, warnings = [], []
    for uid, headers in series.items():
        if headers[0].modality != "MR":
            continue
        name = headers[0].series_description or f"series {headers[0].series_number or uid}"
        try:
            loaded = load_series(headers)
        except PlannerError as exc:
            warnings.append(f"MR series '{name}' not used: {exc}")
            continue
        if loaded.volumes:
            found.append(StudySeries(uid, headers[0].series_description, headers, loaded.volumes[0]))
        else:
            warnings.append(f"MR series '{name}' not used: it holds no volume")
    return found, rejected, warnings


def _normal(volume: Volume) -> np.ndarray:
    return np.abs(volume.axes_lps[:, 2])


@dataclass
class StudyAnalysis:
    """One study analysed: its MR series, the sagittal series analysed, the axial ones through L5-S1."""

    series: list[StudySeries]
    sagittal: StudySeries
    axial: list[StudySeries]
    analysis: DiscAnalysis
    #: a sentence for each series of the study that could not be used, and why
    warnings: list[str] = field(default_factory=list)


def analyze_study_series(study_path, level_shift: int = 0, segmenter: str = segmenters.DEFAULT) -> StudyAnalysis:
    """Load the study's MR series and analyse the sagittal one; :class:`AnalysisError` says what is missing."""
    series, _, warnings = _mr_volumes(study_path)
    sagittal = [s for s in series if _normal(s.volume)[0] > 0.8 and s.volume.shape[0] >= 5]
    if not sagittal:
        raise AnalysisError(f"{study_path}: no sagittal MR series (at least 5 slices) to find the levels on")
    sag = max(sagittal, key=lambda s: (("T2" in s.description.upper()), s.volume.shape[0]))
    axial = [s for s in series if _normal(s.volume)[2] > 0.6 and s is not sag]
    try:
        analysis = analyze_volume(sag.volume, level_shift=level_shift, segmenter=segmenter, axials=[s.volume for s in axial])
    except DiscAnalysisError as exc:
        raise AnalysisError(f"{study_path}: {exc}") from exc
    l5s1 = analysis.levels.level("L5-S1")
    # the axial series through L5-S1, the one the displacement was measured on first
    axial = sorted(
        (s for s in axial if contains(s.volume, l5s1.center_lps)), key=lambda s: s.volume is not analysis.axial
    )
    return StudyAnalysis(series, sag, axial, analysis, warnings)


def analyze_study(study_path, out_dir, level_shift: int = 0, segmenter: str = segmenters.DEFAULT) -> dict:
    """Analyse the study at ``study_path``; write and return ``analysis.json``'s content."""
    return write_analysis(analyze_study_series(study_path, level_shift, segmenter), out_dir)


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
        from planner.dicom_seg import write_segmentation

        write_segmentation(sag.volume, sag.headers, masks, out / "l5s1_disc_seg.dcm", algorithm=analysis.segmenter)
    else:
        result["warnings"].append("The disc mask is empty on the sagittal grid: no SEG written.")
    (out / "analysis.json").write_text(json.dumps(result, indent=1))
    return result
