"""What a saved plan stood on: the corrected disc mask and the exact source images (issue 25).

On every save from the workstation the disc mask the physician saw (brushed,
re-seeded, level-shifted) is written as a SEG beside the plan, and the plan
file's ``evidence`` section records its name, a fingerprint of the images the
plan was made on (a hash of the SOP Instance UIDs and one of the pixels) and when. The
export then uses that SEG and, when the images have changed since, says so
instead of silently recomputing:

    evidence = write_evidence(plan_path, disc_model, headers)   # {"disc_seg_file", "source", "saved_at"}
    session.save(plan_path, evidence=evidence)
    problem = source_changed(evidence["source"], volume)        # a sentence, or ""
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from planner.dicom.header import InstanceHeader
from planner.volume import Volume


def source_fingerprint(volume: Volume) -> dict:
    """SHA-256 of the series' SOP Instance UIDs (sorted) and of its voxel values (as loaded)."""
    uids = hashlib.sha256("\\".join(sorted(volume.sop_instance_uids)).encode()).hexdigest()
    pixels = hashlib.sha256(np.ascontiguousarray(volume.array).tobytes()).hexdigest()
    return {"series_instance_uid": volume.series_instance_uid, "sop_instance_uids_sha256": uids, "pixels_sha256": pixels}


def source_changed(recorded: dict | None, volume: Volume) -> str:
    """A sentence when ``volume`` is not the series the plan recorded (other instances or other pixels), else ""."""
    if not recorded:
        return ""
    now = source_fingerprint(volume)
    if recorded.get("sop_instance_uids_sha256") != now["sop_instance_uids_sha256"]:
        return (f"the images of series {volume.series_instance_uid} are not the ones the plan was saved on "
                "(instances were added, removed or replaced)")
    if recorded.get("pixels_sha256") != now["pixels_sha256"]:
        return f"the pixels of series {volume.series_instance_uid} changed since the plan was saved"
    return ""


def seg_file_name(plan_path: str | Path) -> str:
    name = Path(plan_path).name
    stem = name[: -len(".json")] if name.endswith(".json") else name
    return f"{stem}.disc-seg.dcm"


def write_evidence(plan_path: str | Path, disc_model, headers: Sequence[InstanceHeader]) -> dict:
    """Write the model's masks (the corrected disc, L5 and S1) as a SEG beside ``plan_path``; return what the
    plan's ``evidence`` section records of it."""
    from planner.dicom.seg import write_segmentation

    volume = disc_model.volume
    masks = disc_model.analysis.series_masks()
    from planner.plan.model import now_iso

    evidence = {"source": source_fingerprint(volume), "saved_at": now_iso()}
    if masks.get("L5-S1 disc") is not None and masks["L5-S1 disc"].any():
        name = seg_file_name(plan_path)
        write_segmentation(volume, list(headers), masks, Path(plan_path).parent / name, algorithm=disc_model.analysis.segmenter)
        evidence["disc_seg_file"] = name
    return evidence
