"""UIDs, dates and study attributes shared by every exported object.

An export's UIDs are derived from the plan's content: exporting the same plan
version twice gives the same Series and SOP Instance UIDs (a PACS keeps one
copy), and any change to the plan (a new version, a moved point, a new
approval) gives new ones.

    ids = ExportIdentity(plan)
    ids.uid("sr-series"), ids.uid("key-image", 2)
    ids.content_date, ids.content_time      # the plan's last modification, as DICOM DA/TM
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json

import pydicom
from pydicom.uid import generate_uid

from planner.plan.model import Plan, plan_to_dict

SOFTWARE = "Spine Injection Planner"
SOFTWARE_VERSION = "0.6"

#: series numbers of the exported objects (in the MR study; high enough not to collide with the scanner's)
SERIES_NUMBERS = {"sr": 9001, "seg": 9002, "key-images": 9003, "kos": 9004, "pdf": 9005}


def plan_fingerprint(plan: Plan) -> str:
    """A hash of everything the plan says (the same plan, field for field, gives the same hash)."""
    canonical = json.dumps(plan_to_dict(plan), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def dicom_date_time(iso: str) -> tuple[str, str]:
    """("YYYYMMDD", "HHMMSS") of an ISO 8601 time (local time as written in the plan)."""
    moment = _dt.datetime.fromisoformat(iso)
    return moment.strftime("%Y%m%d"), moment.strftime("%H%M%S")


class ExportIdentity:
    """Deterministic UIDs and timestamps of one plan version's export."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.fingerprint = plan_fingerprint(plan)
        self.content_date, self.content_time = dicom_date_time(plan.modified)

    def uid(self, role: str, index: int | str = 0) -> str:
        return generate_uid(entropy_srcs=[self.fingerprint, role, str(index)])


#: study-level attributes copied from the source MR into every exported object (PS3.3 C.7.1.1, C.7.2.1)
STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
)


def copy_study_attributes(source: pydicom.Dataset, target: pydicom.Dataset) -> None:
    """Copy the patient and study attributes the source has (readers group objects into studies by them)."""
    for keyword in STUDY_KEYWORDS:
        if keyword in source:
            value = source.data_element(keyword).value
            if value not in (None, "") or keyword not in target:
                setattr(target, keyword, value)
