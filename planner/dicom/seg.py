"""DICOM Segmentation (BINARY) of masks computed on an MR series, written with highdicom.

BINARY, not LABELMAP: older PACS and viewers reject the label-map type. One
frame per source slice that contains the structure (empty frames omitted),
each referencing its source instance, in the source's frame of reference.
UIDs are derived from the content, so writing the same mask of the same series
twice gives the same object (a PACS keeps one copy).

    write_segmentation(volume, headers, {"L5-S1 disc": mask}, out_path)
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from planner.dicom.header import InstanceHeader, read_dataset
from planner.errors import SegmentationError
from planner.volume import Volume

SOFTWARE = "Spine Injection Planner"
VERSION = "0.4"


@dataclass(frozen=True)
class Structure:
    """How a mask is described in the SEG: label, anatomic property type (SCT) and category."""

    label: str
    property_type: hd.sr.CodedConcept
    category: hd.sr.CodedConcept = codes.SCT.AnatomicalStructure


#: Structures the planner segments, by the names the segmenters use.
STRUCTURES = {
    "L5-S1 disc": Structure("L5-S1 disc", codes.SCT.L5S1Disc),
    "L5 body": Structure("L5 vertebral body", codes.SCT.L5Vertebra),
    "S1 body": Structure("S1 vertebral body", codes.SCT.BoneStructureOfSacrum),
}


def write_segmentation(
    volume: Volume,
    headers: Sequence[InstanceHeader],
    masks: Mapping[str, np.ndarray],
    out_path: str | os.PathLike,
    series_number: int = 901,
    algorithm: str = "classical",
) -> Path:
    """Write the masks (each shaped like ``volume.array``, [k, j, i]) as one BINARY SEG of ``volume``'s series."""
    seg = build_segmentation(volume, headers, masks, series_number, algorithm)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(out)
    return out


def build_segmentation(
    volume: Volume,
    headers: Sequence[InstanceHeader],
    masks: Mapping[str, np.ndarray],
    series_number: int = 901,
    algorithm: str = "classical",
    sources: Sequence[pydicom.Dataset] | None = None,
) -> hd.seg.Segmentation:
    """The masks (each shaped like ``volume.array``, [k, j, i]) as one BINARY SEG of ``volume``'s series.

    ``sources``: the series' headers already read (without pixels), in ``volume`` order.

    Raises:
        SegmentationError: a mask has another shape, is empty, or names an unknown structure;
            the series' files are missing.
    """
    by_uid = {h.sop_instance_uid: h for h in headers}
    missing = [uid for uid in volume.sop_instance_uids if uid not in by_uid]
    if missing:
        raise SegmentationError(f"the source files of {len(missing)} slice(s) of the series are not known (e.g. {missing[0]})")
    if not masks:
        raise SegmentationError("no mask to write")
    stacked, descriptions = [], []
    for number, (name, mask) in enumerate(masks.items(), start=1):
        if name not in STRUCTURES:
            raise SegmentationError(f"unknown structure {name!r}; known: {', '.join(STRUCTURES)}")
        if mask.shape != volume.shape:
            raise SegmentationError(f"mask {name!r} has shape {mask.shape}, the series {volume.shape}")
        if not mask.any():
            raise SegmentationError(f"mask {name!r} is empty; an empty segment is not written")
        structure = STRUCTURES[name]
        stacked.append(mask.astype(bool))
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=structure.label,
                segmented_property_category=structure.category,
                segmented_property_type=structure.property_type,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=hd.AlgorithmIdentificationSequence(
                    name=f"{SOFTWARE} {algorithm} segmenter", version=VERSION, family=codes.DCM.ImageProcessing
                ),
            )
        )
    if sources is None:
        sources = [read_dataset(by_uid[uid].path, stop_before_pixels=True) for uid in volume.sop_instance_uids]
    sources = [_with_type2_patient_and_study(ds) for ds in sources]
    pixels = _label_map(stacked)
    digest = hashlib.sha256(pixels.tobytes() + "|".join(volume.sop_instance_uids).encode() + ",".join(masks).encode())
    seed = digest.hexdigest()
    first = sources[0]
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(entropy_srcs=["series", seed]),
        series_number=series_number,
        sop_instance_uid=generate_uid(entropy_srcs=["instance", seed]),
        instance_number=1,
        manufacturer=SOFTWARE,
        manufacturer_model_name=SOFTWARE,
        software_versions=VERSION,
        device_serial_number="0",
        series_description=f"{', '.join(masks)} segmentation"[:64],
        content_label="SEGMENTATION",
        content_description=f"{', '.join(masks)} ({algorithm})"[:64],
        omit_empty_frames=True,
    )
    _copy_study_attributes(first, seg)
    return seg


def _label_map(masks: Sequence[np.ndarray]) -> np.ndarray:
    """The segments' pixels for highdicom: one array [k, j, i] of segment numbers (0: none) when no voxel is in
    two masks (the usual case: highdicom checks such an array by its maximum, where a stack of one array per
    segment costs a sum over it, 0.3 s of a 77 x 381 x 381 series); otherwise the stack [k, j, i, segment]."""
    count = np.zeros(masks[0].shape, np.uint8)
    labels = np.zeros(masks[0].shape, np.uint8)
    for number, mask in enumerate(masks, start=1):
        count += mask
        labels[mask] = number
    if len(masks) > 1 and count.max() > 1:
        return np.stack(masks, axis=-1).astype(np.uint8)
    return labels


def _copy_study_attributes(source: pydicom.Dataset, seg: pydicom.Dataset) -> None:
    """Study-level attributes highdicom does not carry over but readers group by."""
    for keyword in ("StudyDescription", "AccessionNumber", "ReferringPhysicianName"):
        if keyword in source and keyword not in seg:
            setattr(seg, keyword, source.data_element(keyword).value)


#: type 2 attributes of the patient and study that a SEG copies from its source (present, possibly empty)
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
          "ReferringPhysicianName", "StudyID", "AccessionNumber")


def _with_type2_patient_and_study(dataset):
    """``dataset``, or a copy of it with the type 2 patient and study attributes it lacks added empty (some
    scanners' and converters' files omit them; the SEG must carry them, empty as in the source)."""
    missing = [keyword for keyword in _TYPE2 if keyword not in dataset]
    if not missing:
        return dataset
    import copy

    dataset = copy.deepcopy(dataset)
    for keyword in missing:
        setattr(dataset, keyword, "")
    return dataset

