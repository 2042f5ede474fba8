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


def source_evidence(volume: Volume) -> dict:
    """A plan file's ``evidence`` of the images it is saved on: their fingerprint, and now."""
    from planner.plan.model import now_iso

    return {"source": source_fingerprint(volume), "saved_at": now_iso()}


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
    evidence = source_evidence(volume)
    if masks.get("L5-S1 disc") is not None and masks["L5-S1 disc"].any():
        name = seg_file_name(plan_path)
        write_segmentation(volume, list(headers), masks, Path(plan_path).parent / name, algorithm=disc_model.analysis.segmenter)
        evidence["disc_seg_file"] = name
    return evidence


def saved_disc_mask(seg_file: Path, volume: Volume, label: str = "L5-S1 disc") -> np.ndarray | None:
    """The segment labelled ``label`` (else the first) of a SEG, on ``volume``'s grid (frames matched by source
    SOP Instance UID). The SEG also holds the L5 and S1 bodies: only the disc's frames are the disc."""
    import highdicom as hd
    import pydicom

    seg = hd.seg.segread(seg_file)
    numbers = {str(item.SegmentLabel): int(item.SegmentNumber) for item in seg.SegmentSequence}
    wanted = numbers.get(label, min(numbers.values()) if numbers else 1)
    frames = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns).astype(bool)
    mask = np.zeros(volume.shape, bool)
    index = {uid: k for k, uid in enumerate(volume.sop_instance_uids)}
    found = False
    shared = seg.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in seg else pydicom.Dataset()
    for frame, item in zip(frames, seg.PerFrameFunctionalGroupsSequence):
        # a SEG of one segment may name it once, in the shared functional groups
        identification = item.get("SegmentIdentificationSequence") or shared.get("SegmentIdentificationSequence")
        if identification and int(identification[0].ReferencedSegmentNumber) != wanted:
            continue
        derivation = item.get("DerivationImageSequence") or shared.get("DerivationImageSequence")
        if not derivation:
            continue
        source = derivation[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        if source in index:
            mask[index[source]] |= frame
            found = True
    return mask if found else None


#: the words of a reopening note that says the images changed since the save (the workstation asks, not notes)
IMAGES_CHANGED = "the plan's numbers and disc do not stand for these images"


def reopen_notes(plan_path: str | Path, evidence: dict | None, volume: Volume, disc_mask: np.ndarray | None) -> list[str]:
    """What a person reopening a saved plan on ``volume`` must know of its evidence: the images changed since the
    save, or the disc on screen is not the one saved with the plan (which the export uses). Empty: as saved."""
    if not evidence:
        return []
    changed = source_changed(evidence.get("source"), volume)
    if changed:
        return [f"{changed}: {IMAGES_CHANGED}; check the plan and save it again"]
    name = evidence.get("disc_seg_file")
    if not name:
        return []
    seg_file = Path(plan_path).parent / name
    if not seg_file.exists():
        return [f"the disc segmentation saved with the plan ({seg_file.name}) is missing; the export will refuse"]
    saved = saved_disc_mask(seg_file, volume)
    if saved is None or disc_mask is None or np.array_equal(saved, disc_mask):
        return []
    from planner.disc.segmentation.masks import dice

    return [f"the disc on screen is not the one saved with the plan (Dice {dice(saved, disc_mask):.2f}): the export uses the saved "
            f"one ({seg_file.name}); correct the disc and save the plan to replace it"]


def read_evidence(plan_path: str | Path) -> dict | None:
    """The ``evidence`` section of a plan file (a version-1 file's, migrated), or None."""
    from planner.plan.model import migrate_plan_dict
    from planner.plan.store import read_json_file

    return migrate_plan_dict(read_json_file(plan_path)).get("evidence")

