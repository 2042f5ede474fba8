"""Build the whole export of one plan, and write it to a folder with a DICOMDIR (issue 6).

An export is one new series per object, all in the MR study and its frame of
reference: the plan SR (TID 1500), the disc SEG (BINARY), the key images
(Secondary Capture, annotations burned in), a Key Object Selection pointing at
them and at the key MR slices, and the report as Encapsulated PDF; plus the same
report as a plain PDF file.

    source = load_export_source("case/plan.json")          # or ExportSource(...) from the GUI's state
    bundle = build_export(source)
    written = write_export_folder(bundle, "out/")           # out/DICOMDIR, out/DICOM/..., out/injection-plan.pdf

UIDs come from the plan's content (:mod:`planner.export.identity`): the same
plan version exported twice gives the same objects; a changed plan new ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.fileset import FileSet
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian

from planner.dicom.header import InstanceHeader, read_dataset
from planner.errors import ExportError, PlannerError
from planner.export.identity import SERIES_NUMBERS, SOFTWARE, ExportIdentity, copy_study_attributes
from planner.export.key_images import KeyImage, render_key_images
from planner.export.report_pdf import PatientInfo, ReportContent, encapsulated_pdf, plan_report_pdf
from planner.export.sr import _person_name, build_plan_sr
from planner.plan.evidence import saved_disc_mask, source_changed
from planner.plan.model import Plan
from planner.progress import CancelToken, ProgressCallback, check, report
from planner.volume import Volume


@dataclass
class ExportSource:
    """What an export is made of: the plan and the images and numbers it was planned on."""

    plan: Plan
    volume: Volume  # the MR series the plan was made on
    headers: list[InstanceHeader]  # that series' instances
    disc_mask: np.ndarray | None = None  # [k, j, i] on ``volume``
    metrics: dict = field(default_factory=dict)  # trajectory id -> TrajectoryMetrics.as_dict()
    warnings: list[str] = field(default_factory=list)
    analysis: dict | None = None  # analysis.json content
    ultrasound_header: InstanceHeader | None = None  # the instance of plan.ultrasound
    ultrasound_frame: np.ndarray | None = None  # its frame, as displayed


@dataclass
class ExportBundle:
    plan: Plan
    identity: ExportIdentity
    sr: pydicom.Dataset
    seg: pydicom.Dataset | None
    key_images: list[pydicom.Dataset]
    kos: pydicom.Dataset
    pdf_document: pydicom.Dataset
    pdf: bytes
    rendered: list[KeyImage]

    @property
    def datasets(self) -> list[pydicom.Dataset]:
        """Every DICOM object, in the order they are stored (referenced objects before the ones referring to them)."""
        return ([self.seg] if self.seg is not None else []) + self.key_images + [self.sr, self.kos, self.pdf_document]


def _check(source: ExportSource) -> None:
    plan, volume = source.plan, source.volume
    study = plan.study
    if not study.study_instance_uid:
        raise ExportError("the plan has no study.study_instance_uid: it cannot be placed in a study")
    first = source.headers[0] if source.headers else None
    if first is None:
        raise ExportError("the plan's MR series has no instances to export against")
    if first.study_instance_uid != study.study_instance_uid:
        raise ExportError(
            f"the MR series belongs to study {first.study_instance_uid}, the plan to {study.study_instance_uid} "
            "(study.study_instance_uid): refusing to export into the wrong study"
        )
    if plan.trajectories and not study.frame_of_reference_uid:
        raise ExportError("the plan has trajectories but no study.frame_of_reference_uid for their coordinates")
    if volume.frame_of_reference_uid and study.frame_of_reference_uid and \
            volume.frame_of_reference_uid != study.frame_of_reference_uid:
        raise ExportError(
            f"the MR series is in frame of reference {volume.frame_of_reference_uid}, the plan's coordinates in "
            f"{study.frame_of_reference_uid} (study.frame_of_reference_uid)"
        )
    if source.disc_mask is not None and source.disc_mask.shape != volume.shape:
        raise ExportError(f"the disc mask has shape {source.disc_mask.shape}, the MR series {volume.shape}")


def _key_image_dataset(key: KeyImage, number: int, reference: pydicom.Dataset, identity: ExportIdentity,
                       sources: dict[str, pydicom.Dataset]) -> pydicom.Dataset:
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=reference,
        pixel_array=key.rgb,
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        series_instance_uid=identity.uid("key-images-series"),
        series_number=SERIES_NUMBERS["key-images"],
        sop_instance_uid=identity.uid("key-image", number),
        instance_number=number,
        manufacturer=SOFTWARE,
        patient_orientation=key.orientation if all(key.orientation) else ("P", "F"),
        series_description="Injection plan key images",
        transfer_syntax_uid=ExplicitVRLittleEndian,
    )
    if not all(key.orientation):
        sc.PatientOrientation = ""  # not known (an ultrasound frame): type 2, empty
    copy_study_attributes(reference, sc)
    sc.BurnedInAnnotation = "YES"
    if "Laterality" not in sc:
        sc.Laterality = ""  # type 2C: the spine is not a paired structure, but validators ask for it
    sc.ImageComments = key.title[:10240]
    sc.DerivationDescription = f"{key.title}; trajectories and targets drawn by {SOFTWARE}"[:1024]
    sc.ContentDate, sc.ContentTime = identity.content_date, identity.content_time
    sc.SeriesDate, sc.SeriesTime = identity.content_date, identity.content_time
    sc.InstanceCreationDate, sc.InstanceCreationTime = identity.content_date, identity.content_time
    if key.pixel_mm:
        sc.NominalScannedPixelSpacing = [round(float(key.pixel_mm), 6)] * 2  # DS: at most 16 characters
        sc.PixelSpacingCalibrationType = "GEOMETRY"
        sc.PixelSpacingCalibrationDescription = "Reslice of the MR at this spacing"
    referenced = [sources[uid] for uid in key.sources if uid in sources]
    if referenced:
        items = []
        for ds in referenced:
            item = pydicom.Dataset()
            item.ReferencedSOPClassUID = ds.SOPClassUID
            item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
            items.append(item)
        sc.SourceImageSequence = items
    return sc


def build_export(source: ExportSource, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> ExportBundle:
    """Every object of the plan's export (see the module docstring), nothing written yet.

    Raises:
        ExportError: the plan and the images do not belong together, or a field the export needs is missing.
    """
    _check(source)
    plan = source.plan
    identity = ExportIdentity(plan)
    report(progress, 5, 100, "Reading the MR headers")
    by_uid = {h.sop_instance_uid: h for h in source.headers}
    mr = [read_dataset(by_uid[uid].path, stop_before_pixels=True)
          for uid in source.volume.sop_instance_uids if uid in by_uid]
    if not mr:
        raise ExportError("none of the MR series' files could be read for the export")
    check(cancel)
    seg = None
    if source.disc_mask is not None and source.disc_mask.any():
        report(progress, 15, 100, "Building the disc segmentation (SEG)")
        from planner.dicom.seg import build_segmentation

        seg = build_segmentation(source.volume, source.headers, {"L5-S1 disc": source.disc_mask},
                                 series_number=SERIES_NUMBERS["seg"], sources=mr)
    report(progress, 35, 100, "Rendering the key images")
    rendered = render_key_images(plan, source.volume, source.disc_mask, source.metrics, source.ultrasound_frame)
    check(cancel)
    sources = {ds.SOPInstanceUID: ds for ds in mr}
    us_dataset = None
    if source.ultrasound_header is not None:
        us_dataset = read_dataset(source.ultrasound_header.path, stop_before_pixels=True)
        sources[us_dataset.SOPInstanceUID] = us_dataset
    key_images = [_key_image_dataset(key, n, mr[0], identity, sources) for n, key in enumerate(rendered, start=1)]
    report(progress, 55, 100, "Building the structured report (SR)")
    sr = build_plan_sr(plan, source.metrics, mr, seg, identity)
    report(progress, 65, 100, "Building the key object selection")
    key_sources = [sources[uid] for key in rendered for uid in key.sources if uid in sources]
    kos = _key_object_selection(plan, identity, key_images + list({ds.SOPInstanceUID: ds for ds in key_sources}.values()), mr[0])
    report(progress, 75, 100, "Writing the PDF report")
    pdf = plan_report_pdf(ReportContent(
        plan=plan, metrics=source.metrics, warnings=source.warnings, patient=PatientInfo.from_dataset(mr[0]),
        images=rendered, analysis=source.analysis,
    ))
    pdf_document = encapsulated_pdf(pdf, mr[0], identity, title=f"Injection plan v{plan.version}")
    report(progress, 100, 100, "Export built")
    return ExportBundle(plan, identity, sr, seg, key_images, kos, pdf_document, pdf, rendered)


def _key_object_selection(plan: Plan, identity: ExportIdentity, objects: list[pydicom.Dataset],
                          reference: pydicom.Dataset) -> pydicom.Dataset:
    content = hd.ko.KeyObjectSelection(
        document_title=codes.DCM.OfInterest,
        referenced_objects=objects,
        observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=_person_name(plan.author)),
        ),
        description=f"Injection plan v{plan.version}: key images and the MR slices with the targets"[:1024],
    )
    kos = hd.ko.KeyObjectSelectionDocument(
        evidence=objects,
        content=content,
        series_instance_uid=identity.uid("kos-series"),
        series_number=SERIES_NUMBERS["kos"],
        sop_instance_uid=identity.uid("kos"),
        instance_number=1,
        manufacturer=SOFTWARE,
    )
    copy_study_attributes(reference, kos)
    kos.SeriesDescription = "Injection plan key objects"
    kos.ContentDate, kos.ContentTime = identity.content_date, identity.content_time
    kos.SeriesDate, kos.SeriesTime = identity.content_date, identity.content_time
    return kos


# --- writing to a folder --------------------------------------------------------------------------


@dataclass
class ExportFolder:
    folder: Path
    dicomdir: Path
    files: list[Path]  # the DICOM files, by the DICOMDIR's names
    pdf: Path


def pdf_file_name(plan: Plan) -> str:
    return f"injection-plan-{re.sub(r'[^A-Za-z0-9-]', '', plan.procedure)}-v{plan.version}.pdf"


def write_export_folder(bundle: ExportBundle, out_dir) -> ExportFolder:
    """Write the export as a DICOM File-set (DICOMDIR + files) and the plain PDF into ``out_dir``.

    An existing File-set in ``out_dir`` is added to, so exports of several plans share one DICOMDIR.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dicomdir = out / "DICOMDIR"
    fileset = FileSet(pydicom.dcmread(dicomdir)) if dicomdir.exists() else FileSet()
    if not dicomdir.exists():
        fileset.ID = "SPINEPLAN"
    present = {instance.SOPInstanceUID for instance in fileset}
    for ds in bundle.datasets:
        if ds.SOPInstanceUID not in present:
            fileset.add(ds)
    ours = {ds.SOPInstanceUID: ds for ds in bundle.datasets}
    for instance in fileset:
        _trim_record(instance.node._record)
        source = ours.get(instance.SOPInstanceUID)
        record = instance.node._record
        if source is not None and record.get("VerificationFlag") == "VERIFIED" and "VerificationDateTime" not in record:
            record.VerificationDateTime = source.VerifyingObserverSequence[0].VerificationDateTime  # type 1C
    fileset.write(out)
    files = [Path(instance.path) for instance in fileset
             if instance.SOPInstanceUID in {ds.SOPInstanceUID for ds in bundle.datasets}]
    pdf = out / pdf_file_name(bundle.plan)
    pdf.write_bytes(bundle.pdf)
    return ExportFolder(out, dicomdir, files, pdf)


def make_export_source(plan: Plan, volume: Volume, headers: list[InstanceHeader], disc_mask=None, metrics=None,
                       warnings=(), analysis: dict | None = None, instances=None) -> ExportSource:
    """An :class:`ExportSource` from what an application holds; ``instances(series_uid) -> headers`` finds
    the ultrasound image of the plan's approach (e.g. ``StudyDatabase.instances``)."""
    us_header = us_frame = None
    if plan.ultrasound is not None and instances is not None and plan.ultrasound.series_instance_uid:
        us_header = next((h for h in instances(plan.ultrasound.series_instance_uid)
                          if h.sop_instance_uid == plan.ultrasound.sop_instance_uid), None)
        if us_header is not None:
            from planner.viewing.ultrasound import UltrasoundClip

            us_frame = UltrasoundClip(us_header).frame(plan.ultrasound.frame_number - 1)
    return ExportSource(plan, volume, list(headers), disc_mask, dict(metrics or {}), list(warnings), analysis,
                        us_header, us_frame)


def export_to(source: ExportSource, folder=None, node=None, outbox=None, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> tuple[ExportBundle, ExportFolder | None, object]:
    """Build the export, write it to ``folder`` and/or send it to ``node`` through ``outbox``, in one call (a worker's).

    Returns (bundle, folder written or None, the outbox's SendSummary or None).
    """
    bundle = build_export(source, progress=progress, cancel=cancel)
    written = write_export_folder(bundle, folder) if folder is not None else None
    summary = None
    if node is not None:
        from planner.pacs.outbox import Outbox

        summary = (outbox or Outbox()).send(node, bundle.datasets, progress=progress, cancel=cancel)
    return bundle, written, summary


# --- from files (the CLI) ---------------------------------------------------------------------------


def _trim_record(record: pydicom.Dataset) -> None:
    """A directory record of an SR or KO keeps only its root HAS CONCEPT MOD items (PS3.3 F.5.22/F.5.23).

    pydicom copies the document's whole content tree into the record, which
    the record's IOD does not allow.
    """
    if "ContentSequence" not in record:
        return
    keep = []
    for item in record.ContentSequence:
        if getattr(item, "RelationshipType", "") == "HAS CONCEPT MOD":
            item = pydicom.Dataset(item)  # a copy: the document itself keeps its tree
            if "ContentSequence" in item:
                del item.ContentSequence
            keep.append(item)
    if keep:
        record.ContentSequence = keep
    else:
        del record.ContentSequence


def load_export_source(plan_path, db_path=None, progress: ProgressCallback | None = None) -> ExportSource:
    """Everything an export needs, found from a plan file: its study, the analysis beside it, the metrics.

    The study is found by ``study.study_path`` (relative paths from the plan's
    folder), else in the study database by the series UID. Metrics come from the
    plan file's ``computed`` section when it is newer than the plan's last change;
    otherwise the analysis and the safety anatomy are recomputed (a few seconds).
    """
    from planner.dicom.loader import load_series
    from planner.errors import PlanFormatError
    from planner.plan.model import migrate_plan_dict, plan_from_dict, validate_plan_dict
    from planner.plan.store import read_json_file

    path = Path(plan_path)
    try:
        data = read_json_file(path)
        validate_plan_dict(data, source=str(path))  # the computed section too: it may be used as it is
    except PlanFormatError as error:
        raise ExportError(f"cannot be read as a plan file: {error}") from error
    data = migrate_plan_dict(data)  # a version-1 file kept its evidence inside `computed`
    computed = data.pop("computed", None)
    evidence = data.pop("evidence", None) or {}
    plan = plan_from_dict(data, source=str(path))
    series_uid = plan.study.series_uid("sagittal")
    if not series_uid:
        raise ExportError(f"{path}: study.series has no sagittal series the plan was made on")
    report(progress, 5, 100, "Finding the study")
    series = _find_study_series(path, plan, db_path)
    if series_uid not in series:
        raise ExportError(
            f"{path}: the plan's MR series {series_uid} is neither in study.study_path "
            f"({plan.study.study_path or 'not given'}) nor in the study database; import the study first"
        )
    headers = series[series_uid]
    loaded = load_series(headers)
    if not loaded.volumes:
        raise ExportError(f"{path}: the plan's MR series {series_uid} has no volume to export against")
    volume = loaded.volumes[0]
    analysis_dir = path.parent
    analysis_file = analysis_dir / str((plan.finding or {}).get("analysis_file") or "analysis.json")
    try:
        analysis = read_json_file(analysis_file, "analysis", allow_nan=True) if analysis_file.exists() else None
    except PlanFormatError as error:
        raise ExportError(f"the analysis beside the plan cannot be used: {error}") from error
    changed = source_changed(evidence.get("source"), volume)
    if changed:
        raise ExportError(f"{path}: {changed}; open the study, check the plan and save it again before exporting")
    saved_seg = evidence.get("disc_seg_file")
    seg_file = path.parent / saved_seg if saved_seg else analysis_file.parent / "l5s1_disc_seg.dcm"
    if saved_seg and not seg_file.exists():
        raise ExportError(f"{path}: the disc segmentation saved with the plan ({seg_file}) is missing")
    disc_mask = saved_disc_mask(seg_file, volume) if seg_file.exists() else None
    fresh = computed and computed.get("computed_at", "") >= plan.modified and \
        set(computed.get("trajectories", {})) == {t.id for t in plan.trajectories}
    if fresh:
        metrics, warnings = computed["trajectories"], list(computed.get("warnings", []))
    else:
        report(progress, 20, 100, "Recomputing the analysis and the safety numbers")
        metrics, warnings, disc = _recompute(plan, volume, series)
        disc_mask = disc_mask if disc_mask is not None else disc
    us_header = us_frame = None
    if plan.ultrasound is not None:
        us_header = next((h for hs in series.values() for h in hs
                          if h.sop_instance_uid == plan.ultrasound.sop_instance_uid), None)
        if us_header is not None:
            from planner.viewing.ultrasound import UltrasoundClip

            us_frame = UltrasoundClip(us_header).frame(plan.ultrasound.frame_number - 1)
    return ExportSource(plan, volume, headers, disc_mask, metrics, warnings, analysis, us_header, us_frame)


def _find_study_series(plan_path: Path, plan: Plan, db_path) -> dict[str, list[InstanceHeader]]:
    from planner.dicom.loader import read_path_series

    study_path = Path(plan.study.study_path) if plan.study.study_path else None
    if study_path is not None and not study_path.is_absolute():
        study_path = plan_path.parent / study_path
    if study_path is not None and study_path.exists():
        series, _rejected = read_path_series(study_path)
        if plan.study.series_uid("sagittal") in series:
            return series
    from planner.dicom.database import StudyDatabase

    try:
        with StudyDatabase(db_path) as db:
            return {uid: db.instances(uid) for uid in db.series_uids(plan.study.study_instance_uid)}
    except PlannerError:
        return {}


def _recompute(plan: Plan, volume: Volume, series: dict) -> tuple[dict, list[str], np.ndarray]:
    """The analysis and safety numbers again, from the study session's series roles (as the CLI and the
    workstation chose them) at the level the plan was made at."""
    from planner.plan.planning import computed_section
    from planner.study.session import StudySession

    session = StudySession(series)
    session.sagittal_uid = volume.series_instance_uid
    session.use_volume(volume)
    shift = plan.level_check.level_shift if plan.level_check is not None else 0
    analysis = session.analyse(level_shift=shift)  # the level the plan was made at, not the default
    computed = computed_section(plan, session.build_anatomy(analysis))
    return computed["trajectories"], computed["warnings"], analysis.segmentation.series_mask(volume)
