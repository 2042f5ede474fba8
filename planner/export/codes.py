"""Coded concepts of the exported plan: DCM and SCT where the standard has one, else our own scheme.

Our local scheme ``99SIP`` follows PS3.16 8.2 (private schemes start with
"99") and is declared in each SR's Coding Scheme Identification Sequence.
Every code meaning fits the 64 characters of a DICOM LO.
"""

from __future__ import annotations

import highdicom as hd
from pydicom.sr.codedict import codes

SCHEME = "99SIP"
SCHEME_NAME = "Spine Injection Planner local codes"


def local(value: str, meaning: str) -> hd.sr.CodedConcept:
    assert len(meaning) <= 64, meaning
    return hd.sr.CodedConcept(value=value, scheme_designator=SCHEME, meaning=meaning)


def ucum(value: str, meaning: str) -> hd.sr.CodedConcept:
    return hd.sr.CodedConcept(value=value, scheme_designator="UCUM", meaning=meaning)


MM = ucum("mm", "millimeter")
DEG = ucum("deg", "degree")
ML = ucum("mL", "milliliter")
GAUGE = ucum("{G}", "gauge")
NO_UNITS = ucum("1", "no units")

PLAN_TITLE = local("SIP-0001", "Injection procedure plan")
PROCEDURES = {
    "transforaminal-s1": local("SIP-0101", "S1 transforaminal epidural injection"),
    "interlaminar-l5s1": local("SIP-0102", "L5-S1 interlaminar epidural injection"),
    "caudal": local("SIP-0103", "Caudal epidural injection"),
    "intradiscal-l5s1": local("SIP-0104", "L5-S1 intradiscal injection"),
}
INJECTION_TARGET = local("SIP-0201", "Injection target")
NEEDLE_TRAJECTORY = local("SIP-0202", "Needle trajectory (skin entry to target)")
DISC_FINDING = local("SIP-0203", "L5-S1 disc finding (Lumbar Disc Nomenclature 2.0)")
PLAN_DOCUMENT = local("SIP-0204", "Plan document (JSON)")
ULTRASOUND_APPROACH = local("SIP-0205", "Ultrasound-guided approach")

CRANIOCAUDAL_ANGLE = local("SIP-0301", "Craniocaudal needle angle")
MEDIOLATERAL_ANGLE = local("SIP-0302", "Mediolateral needle angle")
DISC_PLANE_ANGLE = local("SIP-0303", "Angle between needle and disc plane")
NEEDLE_MARGIN = local("SIP-0304", "Needle length beyond the path")
MIN_DISTANCE = local("SIP-0305", "Minimum distance from the needle path")
MAX_DISPLACEMENT = local("SIP-0306", "Maximum disc displacement")
DISPLACED_ARC = local("SIP-0307", "Displaced arc of disc circumference")
INSERTION_ANGLE = local("SIP-0308", "Needle angle to the transducer face")
PROBE_EDGE_DISTANCE = local("SIP-0309", "Probe edge to needle insertion point")
INJECTATE_VOLUME = local("SIP-0310", "Injectate volume")

CLASSIFICATION = local("SIP-0401", "Disc contour classification (LDN 2.0)")
ZONE = local("SIP-0402", "Axial zone")
INJECTATE = local("SIP-0403", "Injectate")
GUIDANCE = local("SIP-0404", "Image guidance")
NEEDLE_TIP = local("SIP-0405", "Needle tip")
PLAN_STATUS = local("SIP-0406", "Plan status")
LEVEL_CONFIDENCE = local("SIP-0407", "Confidence of the level count from the sacrum")
LEVEL_CONFIRMED_BY = local("SIP-0408", "Vertebral level confirmed by")
LEVEL_CONFIRMED_AT = local("SIP-0409", "Vertebral level confirmed at")
LEVEL_SHIFT = local("SIP-0311", "Vertebral level shift set by the user")
LEVEL_CONFIDENCES = {
    "high": local("SIP-1301", "High: every check of the count held"),
    "low": local("SIP-1302", "Low: the count needed a person's check"),
}

CLASSES = {
    name: local(f"SIP-05{n:02d}", text)
    for n, (name, text) in enumerate(
        [
            ("normal", "Normal disc contour"),
            ("bulge", "Disc bulge"),
            ("protrusion", "Disc protrusion"),
            ("extrusion", "Disc extrusion"),
            ("sequestration", "Disc sequestration"),
        ],
        start=1,
    )
}
ZONES = {
    name: local(f"SIP-06{n:02d}", f"{name.capitalize()} zone")
    for n, name in enumerate(["central", "subarticular", "foraminal", "extraforaminal"], start=1)
}
SIDES = {
    "left": hd.sr.CodedConcept.from_code(codes.SCT.Left),
    "right": hd.sr.CodedConcept.from_code(codes.SCT.Right),
    "bilateral": hd.sr.CodedConcept.from_code(codes.SCT.Bilateral),
    "central": local("SIP-0701", "Central"),
    "midline": local("SIP-0702", "Midline"),
}
INJECTATES = {
    "platelet-lysate": local("SIP-0801", "Platelet lysate"),
    "culture-expanded-cells": local("SIP-0802", "Culture-expanded cells"),
    "other": local("SIP-0803", "Other injectate"),
}
GUIDANCES = {
    "ultrasound": local("SIP-0901", "Ultrasound guidance"),
    "fluoroscopy": local("SIP-0902", "Fluoroscopic guidance"),
    "both": local("SIP-0903", "Ultrasound and fluoroscopic guidance"),
}
TIPS = {name: local(f"SIP-10{n:02d}", f"{name.capitalize()} needle tip") for n, name in enumerate(
    ["quincke", "whitacre", "sprotte", "tuohy", "chiba", "other"], start=1)}
STATUSES = {"draft": local("SIP-1101", "Draft"), "approved": local("SIP-1102", "Approved")}

#: anatomy the safety distances are measured to, by the structure kind of planner.plan.trajectory
STRUCTURE_SITES = {
    "dura": hd.sr.CodedConcept.from_code(codes.SCT.DuraMater),
    "iliac crest": hd.sr.CodedConcept.from_code(codes.SCT.IliacCrest),
    "disc": hd.sr.CodedConcept.from_code(codes.SCT.L5S1Disc),
    "bone": local("SIP-1201", "Vertebral or sacral bone"),
    "nerve root": local("SIP-1202", "Spinal nerve root"),
    "unimaged": local("SIP-1203", "Outside the imaged volume"),
}
ROOTS = {"S1": local("SIP-1204", "S1 spinal nerve root"), "L5": local("SIP-1205", "L5 spinal nerve root")}


def structure_site(name: str, kind: str) -> hd.sr.FindingSite:
    """The finding site of a safety distance: the structure (a named root when known) and its side."""
    side = "left" if "left" in name else "right" if "right" in name else None
    location = next((code for root, code in ROOTS.items() if name.startswith(root)), STRUCTURE_SITES[kind])
    return hd.sr.FindingSite(location, laterality=SIDES[side] if side else None)
L5S1_DISC = hd.sr.CodedConcept.from_code(codes.SCT.L5S1Disc)
LENGTH = hd.sr.CodedConcept.from_code(codes.SCT.Length)
DEPTH = hd.sr.CodedConcept.from_code(codes.SCT.Depth)
NEEDLE_GAUGE = hd.sr.CodedConcept.from_code(codes.DCM.NeedleGauge)
NEEDLE_LENGTH = hd.sr.CodedConcept.from_code(codes.DCM.NeedleLength)

# --- fasciculations in ultrasound cines (planner/fasciculation) ----------------------------------
# SNOMED CT has codes for these muscles, but none that this project could verify offline (pydicom's
# dictionary lacks them), so they are local codes; the muscle's key is in the plan document too.
FASCICULATIONS = local("SIP-1401", "Muscle fasciculations on ultrasound")
FASCICULATIONS_CONTROL = local("SIP-1402", "Muscle fasciculations on ultrasound, control muscle")
FASCICULATION_RATE = local("SIP-1403", "Fasciculation rate")
FASCICULATION_COUNT = local("SIP-1404", "Fasciculations counted")
OBSERVATION_TIME = local("SIP-1405", "Cine time analysed")
LONGEST_QUIET = local("SIP-1406", "Longest interval without a fasciculation")
CRITERION_MET = local("SIP-1407", "At least 2 fasciculations in 60 s")
PER_MIN = ucum("/min", "per minute")
SECONDS = ucum("s", "second")
COUNT = ucum("{count}", "count")
YES = hd.sr.CodedConcept.from_code(codes.SCT.Yes)
NO = hd.sr.CodedConcept.from_code(codes.SCT.No)
MUSCLES = {
    key: local(f"SIP-15{n:02d}", meaning)
    for n, (key, meaning) in enumerate(
        [
            ("gastrocnemius_medial", "Gastrocnemius muscle, medial head"),
            ("gastrocnemius_lateral", "Gastrocnemius muscle, lateral head"),
            ("gastrocnemius", "Gastrocnemius muscle"),
            ("soleus", "Soleus muscle"),
            ("tibialis_anterior", "Tibialis anterior muscle"),
            ("peroneus_longus", "Peroneus longus muscle"),
            ("rectus_femoris", "Rectus femoris muscle"),
            ("vastus_medialis", "Vastus medialis muscle"),
        ],
        start=1,
    )
}
MUSCLE_UNKNOWN = hd.sr.CodedConcept.from_code(codes.SCT.SkeletalMuscleStructureOfLowerLimb)
