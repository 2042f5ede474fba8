"""The plan as a Comprehensive 3D SR (TID 1500 measurement report), and the plan read back from one.

What a viewer (OHIF, Weasis, 3D Slicer) sees: per needle, the target as a
SCOORD3D POINT and the trajectory as a SCOORD3D POLYLINE (skin entry ->
target), each with a tracking identifier and its numbers (length, depth,
angles, needle, closest distance to each structure); the disc finding as
coded evaluations with its displacement and arc, linked to the disc SEG; the
procedure, injectate and plan status. Evidence: the MR series and the SEG.

What the planner reads back: the plan document itself, carried whole as one
TEXT item ("Plan document (JSON)"), checked against the SCOORD3D geometry:

    sr = build_plan_sr(plan, metrics, mr_datasets, seg, identity)
    plan = plan_from_sr(pydicom.dcmread("sr.dcm"))   # the same plan, field for field
"""

from __future__ import annotations

import datetime
import json
from typing import Mapping, Sequence

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes

from planner.errors import PlanFormatError
from planner.export import codes as c
from planner.export.identity import SERIES_NUMBERS, SOFTWARE, ExportIdentity, copy_study_attributes, dicom_date_time
from planner.fasciculation.analysis import CRITERION_PER_MIN
from planner.plan.model import Plan, plan_from_dict, plan_to_dict

#: the tolerance within which the SR's coordinates must agree with its plan document
GEOMETRY_TOLERANCE_MM = 0.01


def _tracking(identity: ExportIdentity, role: str, text: str) -> hd.sr.TrackingIdentifier:
    return hd.sr.TrackingIdentifier(uid=identity.uid("tracking", role), identifier=text)


def _mm(name, value) -> hd.sr.Measurement:
    return hd.sr.Measurement(name=name, value=float(value), unit=c.MM)


def _trajectory_groups(plan: Plan, metrics: Mapping[str, dict], identity: ExportIdentity) -> list:
    frame = plan.study.frame_of_reference_uid
    groups = []
    for t in plan.trajectories:
        m = metrics.get(t.id) or {}
        target_measurements = [_mm(c.DEPTH, m["depth_mm"])] if "depth_mm" in m else []
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=_tracking(identity, f"{t.id}-target", f"{t.id} | target | {t.label}"),
                referenced_region=hd.sr.ImageRegion3D(
                    graphic_type=hd.sr.GraphicTypeValues3D.POINT,
                    graphic_data=np.array([t.target_lps]),
                    frame_of_reference_uid=frame,
                ),
                finding_type=c.INJECTION_TARGET,
                finding_sites=[hd.sr.FindingSite(c.L5S1_DISC)] if plan.procedure == "intradiscal-l5s1" else None,
                measurements=target_measurements or None,
            )
        )
        measurements = []
        if m:
            measurements += [
                _mm(c.LENGTH, m["length_mm"]),
                _mm(c.DEPTH, m["depth_mm"]),
                hd.sr.Measurement(name=c.CRANIOCAUDAL_ANGLE, value=m["craniocaudal_deg"], unit=c.DEG),
                hd.sr.Measurement(name=c.MEDIOLATERAL_ANGLE, value=m["mediolateral_deg"], unit=c.DEG),
            ]
            if m.get("disc_plane_deg") is not None:
                measurements.append(hd.sr.Measurement(name=c.DISC_PLANE_ANGLE, value=m["disc_plane_deg"], unit=c.DEG))
            measurements.append(_mm(c.NEEDLE_MARGIN, m["needle_margin_mm"]))
            for d in m.get("distances", []):
                if d["min_distance_mm"] is None or d["kind"] not in c.STRUCTURE_SITES:
                    continue
                site = c.structure_site(d["structure"], d["kind"])
                measurements.append(
                    hd.sr.Measurement(name=c.MIN_DISTANCE, value=d["min_distance_mm"], unit=c.MM, finding_sites=[site])
                )
        measurements += [
            hd.sr.Measurement(name=c.NEEDLE_GAUGE, value=t.needle.gauge, unit=c.GAUGE),
            _mm(c.NEEDLE_LENGTH, t.needle.length_mm),
        ]
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=_tracking(identity, f"{t.id}-path", f"{t.id} | trajectory | {t.label}"),
                referenced_region=hd.sr.ImageRegion3D(
                    graphic_type=hd.sr.GraphicTypeValues3D.POLYLINE,
                    graphic_data=np.array([t.entry_lps, t.target_lps]),
                    frame_of_reference_uid=frame,
                ),
                finding_type=c.NEEDLE_TRAJECTORY,
                measurements=measurements,
                qualitative_evaluations=[
                    hd.sr.QualitativeEvaluation(c.GUIDANCE, c.GUIDANCES[t.guidance]),
                    hd.sr.QualitativeEvaluation(c.NEEDLE_TIP, c.TIPS[t.needle.tip]),
                ],
            )
        )
    return groups


def _finding_group(plan: Plan, seg: pydicom.Dataset | None, identity: ExportIdentity):
    finding = plan.finding or {}
    if not finding.get("classification"):
        return None
    evaluations = [hd.sr.QualitativeEvaluation(c.CLASSIFICATION, c.CLASSES[finding["classification"]])]
    if finding.get("side") in c.SIDES:
        evaluations.append(hd.sr.QualitativeEvaluation(codes.SCT.Laterality, c.SIDES[finding["side"]]))
    if finding.get("zone") in c.ZONES:
        evaluations.append(hd.sr.QualitativeEvaluation(c.ZONE, c.ZONES[finding["zone"]]))
    measurements = []
    if finding.get("max_displacement_mm") is not None:
        measurements.append(_mm(c.MAX_DISPLACEMENT, finding["max_displacement_mm"]))
    if finding.get("displaced_arc_deg") is not None:
        measurements.append(hd.sr.Measurement(name=c.DISPLACED_ARC, value=finding["displaced_arc_deg"], unit=c.DEG))
    tracking = _tracking(identity, "finding", "L5-S1 disc finding")
    if seg is not None:
        return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking,
            referenced_segment=hd.sr.ReferencedSegment(
                sop_class_uid=seg.SOPClassUID,
                sop_instance_uid=seg.SOPInstanceUID,
                segment_number=1,
                source_series=hd.sr.SourceSeriesForSegmentation(
                    seg.ReferencedSeriesSequence[0].SeriesInstanceUID
                ),
            ),
            finding_type=c.DISC_FINDING,
            finding_sites=[hd.sr.FindingSite(c.L5S1_DISC)],
            measurements=measurements or None,
            qualitative_evaluations=evaluations,
        )
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking,
        finding_type=c.DISC_FINDING,
        finding_sites=[hd.sr.FindingSite(c.L5S1_DISC)],
        measurements=measurements or None,
        qualitative_evaluations=evaluations,
    )


def _procedure_group(plan: Plan, identity: ExportIdentity):
    evaluations = [
        hd.sr.QualitativeEvaluation(c.INJECTATE, c.INJECTATES[plan.injectate.kind]),
        hd.sr.QualitativeEvaluation(codes.SCT.Laterality, c.SIDES[plan.side]),
        hd.sr.QualitativeEvaluation(c.PLAN_STATUS, c.STATUSES[plan.status]),
    ]
    measurements = [hd.sr.Measurement(name=c.INJECTATE_VOLUME, value=plan.injectate.volume_ml, unit=c.ML)]
    check = plan.level_check
    if check is not None:
        evaluations.append(hd.sr.QualitativeEvaluation(c.LEVEL_CONFIDENCE, c.LEVEL_CONFIDENCES[check.confidence]))
        measurements.append(hd.sr.Measurement(name=c.LEVEL_SHIFT, value=check.level_shift, unit=c.NO_UNITS))
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(identity, "procedure", f"Plan {plan.plan_uid} version {plan.version}"),
        finding_type=c.PROCEDURES[plan.procedure],
        measurements=measurements,
        qualitative_evaluations=evaluations,
    )


def _level_confirmation(plan: Plan) -> list:
    """Who confirmed (or shifted) the level count, and when: text and date-time items of the report."""
    check = plan.level_check
    if check is None or not check.confirmed_by:
        return []
    items = [hd.sr.TextContentItem(name=c.LEVEL_CONFIRMED_BY, value=check.confirmed_by[:1024], relationship_type="CONTAINS")]
    try:
        when = datetime.datetime.fromisoformat(check.confirmed_at)
    except ValueError:
        return items
    items.append(hd.sr.DateTimeContentItem(name=c.LEVEL_CONFIRMED_AT, value=when, relationship_type="CONTAINS"))
    return items


def _ultrasound_group(plan: Plan, identity: ExportIdentity):
    us = plan.ultrasound
    if us is None:
        return None
    measurements = []
    for name, value, unit in (
        (c.DEPTH, us.depth_mm, c.MM),
        (c.INSERTION_ANGLE, us.insertion_angle_deg, c.DEG),
        (c.PROBE_EDGE_DISTANCE, us.probe_edge_distance_mm, c.MM),
    ):
        if value is not None:
            measurements.append(hd.sr.Measurement(name=name, value=float(value), unit=unit))
    if not measurements:
        return None
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(
            identity, "ultrasound", f"Ultrasound approach on frame {us.frame_number} of {us.sop_instance_uid}"
        ),
        finding_type=c.ULTRASOUND_APPROACH,
        measurements=measurements,
    )


def _fasciculation_groups(plan: Plan, identity: ExportIdentity) -> list:
    """TID 1500 numeric measurements of the fasciculation finding: the muscle examined and its control."""
    record = plan.fasciculation
    if not record:
        return []
    groups = []
    for role, cine, finding_type in (("muscle", record["muscle"], c.FASCICULATIONS), ("control", record.get("control"), c.FASCICULATIONS_CONTROL)):
        if not cine:
            continue
        side = {"L": "left", "R": "right"}.get(cine.get("side", ""))
        site = hd.sr.FindingSite(c.MUSCLES.get(cine["muscle"], c.MUSCLE_UNKNOWN), laterality=c.SIDES[side] if side else None)
        measurements = [
            hd.sr.Measurement(name=c.FASCICULATION_RATE, value=float(cine["rate_per_min"]), unit=c.PER_MIN),
            hd.sr.Measurement(name=c.FASCICULATION_COUNT, value=float(cine["n_events"]), unit=c.COUNT),
            hd.sr.Measurement(name=c.OBSERVATION_TIME, value=float(cine["analysed_s"]), unit=c.SECONDS),
        ]
        if cine.get("longest_quiet_s") is not None:
            measurements.append(hd.sr.Measurement(name=c.LONGEST_QUIET, value=float(cine["longest_quiet_s"]), unit=c.SECONDS))
        met = cine["analysed_s"] > 0 and cine["rate_per_min"] >= CRITERION_PER_MIN
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=_tracking(identity, f"fasciculation-{role}", f"Fasciculations | {role} | {cine.get('muscle_name', '')}"[:64]),
                finding_type=finding_type,
                finding_sites=[site],
                measurements=measurements,
                qualitative_evaluations=[hd.sr.QualitativeEvaluation(name=c.CRITERION_MET, value=c.YES if met else c.NO)],
            )
        )
    return groups


def build_plan_sr(
    plan: Plan,
    metrics: Mapping[str, dict],
    mr_datasets: Sequence[pydicom.Dataset],
    seg: pydicom.Dataset | None,
    identity: ExportIdentity,
) -> hd.sr.Comprehensive3DSR:
    """The plan's TID 1500 report; ``metrics``: trajectory id -> ``TrajectoryMetrics.as_dict()``.

    ``mr_datasets``: headers (no pixels needed) of the MR series the plan was made
    on; they are the evidence and give the patient and study attributes.
    """
    author = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=_person_name(plan.author)),
    )
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=identity.uid("device"), name=SOFTWARE
        ),
    )
    groups = _trajectory_groups(plan, metrics, identity)
    groups += [g for g in (_finding_group(plan, seg, identity), _procedure_group(plan, identity),
                           _ultrasound_group(plan, identity)) if g is not None]
    groups += _fasciculation_groups(plan, identity)
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=author, observer_device_context=device
        ),
        procedure_reported=c.PROCEDURES[plan.procedure],
        imaging_measurements=groups,
    )
    root = report[0]
    root.ContentSequence.extend(_level_confirmation(plan))
    if plan.notes:
        root.ContentSequence.append(
            hd.sr.TextContentItem(name=codes.DCM.Comment, value=plan.notes, relationship_type="CONTAINS")
        )
    document = json.dumps(plan_to_dict(plan), separators=(",", ":"))
    root.ContentSequence.append(
        hd.sr.TextContentItem(name=c.PLAN_DOCUMENT, value=document, relationship_type="CONTAINS")
    )
    evidence = list(mr_datasets) + ([seg] if seg is not None else [])
    approval = plan.approval
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=identity.uid("sr-series"),
        series_number=SERIES_NUMBERS["sr"],
        sop_instance_uid=identity.uid("sr"),
        instance_number=1,
        manufacturer=SOFTWARE,
        is_complete=True,
        is_final=plan.approved,
        is_verified=plan.approved,
        verifying_observer_name=_person_name(approval.name) if approval else None,
        verifying_organization="Spine Injection Planner user" if approval else None,
        series_description=f"Injection plan v{plan.version} ({plan.status})"[:64],
    )
    copy_study_attributes(mr_datasets[0], sr)
    sr.ContentDate, sr.ContentTime = identity.content_date, identity.content_time
    sr.SeriesDate, sr.SeriesTime = identity.content_date, identity.content_time
    sr.InstanceCreationDate, sr.InstanceCreationTime = identity.content_date, identity.content_time
    if approval is not None and "VerifyingObserverSequence" in sr:
        day, time = dicom_date_time(approval.time)
        sr.VerifyingObserverSequence[0].VerificationDateTime = day + time
    _declare_local_scheme(sr)
    return sr


def _person_name(name: str) -> str:
    """A PN value: "Family^Given" stays, a login name becomes the family name ("root^"); at most 64 characters."""
    name = name.replace("\\", "/")[:63] or "unknown"
    return name if "^" in name else name + "^"


def _declare_local_scheme(dataset: pydicom.Dataset) -> None:
    item = pydicom.Dataset()
    item.CodingSchemeDesignator = c.SCHEME
    item.CodingSchemeName = c.SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = SOFTWARE
    existing = list(getattr(dataset, "CodingSchemeIdentificationSequence", []))
    if not any(i.CodingSchemeDesignator == c.SCHEME for i in existing):
        dataset.CodingSchemeIdentificationSequence = existing + [item]


# --- reading back -----------------------------------------------------------------------------------


def _walk(items):
    for item in items:
        yield item
        yield from _walk(getattr(item, "ContentSequence", []))


def _concept(item) -> tuple[str, str]:
    name = item.ConceptNameCodeSequence[0]
    return name.CodingSchemeDesignator, name.CodeValue


def is_plan_sr(dataset: pydicom.Dataset) -> bool:
    """Whether a dataset is an SR this planner wrote (it carries a plan document)."""
    if getattr(dataset, "Modality", "") != "SR":
        return False
    return any(
        getattr(i, "ValueType", "") == "TEXT" and _concept(i) == (c.SCHEME, c.PLAN_DOCUMENT.value)
        for i in getattr(dataset, "ContentSequence", [])
    )


def sr_geometry(dataset: pydicom.Dataset) -> dict[str, dict[str, np.ndarray]]:
    """Trajectory id -> {"target": point, "entry": point, "path_target": point} from the SR's SCOORD3D items."""
    found: dict[str, dict[str, np.ndarray]] = {}
    for group in _walk(getattr(dataset, "ContentSequence", [])):
        children = list(getattr(group, "ContentSequence", []))
        ident = next(
            (i.TextValue for i in children if getattr(i, "ValueType", "") == "TEXT"
             and _concept(i) == ("DCM", "112039")),  # Tracking Identifier
            None,
        )
        if not ident or " | " not in ident:
            continue
        tid, role = ident.split(" | ")[:2]
        for item in _walk(children):
            if getattr(item, "ValueType", "") != "SCOORD3D":
                continue
            points = np.asarray(item.GraphicData, float).reshape(-1, 3)
            entry = found.setdefault(tid, {})
            if role == "target" and item.GraphicType == "POINT":
                entry["target"] = points[0]
            elif role == "trajectory" and item.GraphicType == "POLYLINE":
                entry["entry"], entry["path_target"] = points[0], points[-1]
    return found


def plan_from_sr(dataset: pydicom.Dataset, source: str = "the SR") -> Plan:
    """The plan an SR of :func:`build_plan_sr` carries, after checking it against the SR's coordinates.

    Raises:
        PlanFormatError: not a plan SR, a broken plan document, or coordinates that disagree with it
            by more than 0.01 mm (the SR was edited elsewhere) -- the message names the trajectory.
    """
    document = next(
        (
            i.TextValue
            for i in getattr(dataset, "ContentSequence", [])
            if getattr(i, "ValueType", "") == "TEXT" and _concept(i) == (c.SCHEME, c.PLAN_DOCUMENT.value)
        ),
        None,
    )
    if document is None:
        raise PlanFormatError(source, "ContentSequence", "not an injection plan report (no plan document item)")
    try:
        data = json.loads(document)
    except json.JSONDecodeError as exc:
        raise PlanFormatError(source, "Plan document (JSON)", f"is not valid JSON ({exc})") from exc
    plan = plan_from_dict(data, source=source)
    geometry = sr_geometry(dataset)
    for t in plan.trajectories:
        points = geometry.get(t.id)
        if not points or "entry" not in points or "target" not in points:
            raise PlanFormatError(source, f"trajectory {t.id}", "has no SCOORD3D target or path")
        for name, expected, got in (
            ("target", t.target_lps, points["target"]),
            ("path target", t.target_lps, points["path_target"]),
            ("skin entry", t.entry_lps, points["entry"]),
        ):
            error = float(np.linalg.norm(np.asarray(expected) - got))
            if error > GEOMETRY_TOLERANCE_MM:
                raise PlanFormatError(
                    source, f"trajectory {t.id} {name}",
                    f"the SR's SCOORD3D differs from its plan document by {error:.3f} mm (edited elsewhere?)",
                )
    return plan


def plan_from_sr_file(path) -> Plan:
    """:func:`plan_from_sr` of a file; a file that is not DICOM or not a plan SR names itself."""
    try:
        dataset = pydicom.dcmread(path)
    except (OSError, pydicom.errors.InvalidDicomError) as error:
        raise PlanFormatError(path, "(the file)", f"cannot be read as DICOM ({error})") from error
    return plan_from_sr(dataset, str(path))
