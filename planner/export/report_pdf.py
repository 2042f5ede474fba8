"""The readable procedure plan as PDF (reportlab), and as an Encapsulated PDF DICOM object.

One document a physician can read in the procedure room: patient and study,
level and finding with its numbers, the key images, a trajectory table (entry,
target, length, angles, needle, closest distances), warnings, injectate, the
ultrasound approach, author and approval.

    pdf = plan_report_pdf(ReportContent(plan, metrics, warnings, analysis, images, patient))
    ds = encapsulated_pdf(pdf, mr_dataset, identity, title="Injection plan")
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pydicom
from PIL import Image as PILImage
from pydicom.uid import ExplicitVRLittleEndian
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from planner.disc.finding_text import describe
from planner.export.identity import SERIES_NUMBERS, SOFTWARE, SOFTWARE_VERSION, ExportIdentity, copy_study_attributes
from planner.export.key_images import KeyImage, ultrasound_summary
from planner.plan.model import Plan

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"

PROCEDURE_NAMES = {
    "transforaminal-s1": "S1 transforaminal epidural injection",
    "interlaminar-l5s1": "L5–S1 interlaminar epidural injection",
    "caudal": "Caudal epidural injection",
    "intradiscal-l5s1": "L5–S1 intradiscal injection (posterolateral)",
}
INJECTATE_NAMES = {
    "platelet-lysate": "Platelet lysate",
    "culture-expanded-cells": "Culture-expanded cells",
    "other": "Other",
}


@dataclass
class PatientInfo:
    """What the report prints of the patient and the study (from the source MR's header)."""

    name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    sex: str = ""
    study_date: str = ""
    study_description: str = ""
    accession_number: str = ""

    @classmethod
    def from_dataset(cls, ds: pydicom.Dataset) -> "PatientInfo":
        return cls(
            name=str(getattr(ds, "PatientName", "") or "").replace("^", " ").strip(),
            patient_id=str(getattr(ds, "PatientID", "") or ""),
            birth_date=_date(getattr(ds, "PatientBirthDate", "")),
            sex=str(getattr(ds, "PatientSex", "") or ""),
            study_date=_date(getattr(ds, "StudyDate", "")),
            study_description=str(getattr(ds, "StudyDescription", "") or ""),
            accession_number=str(getattr(ds, "AccessionNumber", "") or ""),
        )


@dataclass
class ReportContent:
    plan: Plan
    metrics: dict  # trajectory id -> TrajectoryMetrics.as_dict()
    warnings: list[str]
    patient: PatientInfo
    images: list[KeyImage] = field(default_factory=list)
    analysis: dict | None = None  # analysis.json content, when known


def _date(value) -> str:
    value = str(value or "")
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else value


def _time(iso: str) -> str:
    return iso.replace("T", " ")[:16] if iso else ""


def _styles():
    sheet = getSampleStyleSheet()
    font, bold = _fonts()
    base = ParagraphStyle("base", parent=sheet["BodyText"], fontName=font, fontSize=9.5, leading=12)
    return {
        "title": ParagraphStyle("title", parent=base, fontName=bold, fontSize=16, leading=20, spaceAfter=2),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=10, textColor=colors.HexColor("#444444")),
        "h2": ParagraphStyle("h2", parent=base, fontName=bold, fontSize=11.5, leading=15, spaceBefore=8, spaceAfter=3, keepWithNext=1,
                             textColor=colors.HexColor("#1d3c5a")),
        "body": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=10.5),
        "cellbold": ParagraphStyle("cellbold", parent=base, fontName=bold, fontSize=8.5, leading=10.5),
        "warning": ParagraphStyle("warning", parent=base, textColor=colors.HexColor("#8a1c00")),
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9, textColor=colors.HexColor("#555555")),
    }


def _fonts() -> tuple[str, str]:
    """DejaVu Sans when the system has it (any patient name prints), else the PDF base font Helvetica."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    try:
        pdfmetrics.getFont("DejaVuSans")
        return "DejaVuSans", "DejaVuSans-Bold"
    except KeyError:
        pass
    try:
        pdfmetrics.registerFont(TTFont("DejaVuSans", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"))
        return "DejaVuSans", "DejaVuSans-Bold"
    except Exception:  # no such font file: the base font covers Western European text
        return "Helvetica", "Helvetica-Bold"


def _esc(text) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _grid(rows, widths, styles, header: bool = False) -> Table:
    cells = [[Paragraph(_esc(v), styles["cellbold" if (header and r == 0) or (not header and c == 0) else "cell"])
              for c, v in enumerate(row)] for r, row in enumerate(rows)]
    table = Table(cells, colWidths=widths, hAlign="LEFT")
    style = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#b8c4cf")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6edf3")))
    else:
        style.append(("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f1f4f7")))
    table.setStyle(TableStyle(style))
    return table


def _point(p) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in p) + ")"


def _image_flowable(key: KeyImage, width_mm: float) -> Image:
    buffer = io.BytesIO()
    PILImage.fromarray(key.rgb).save(buffer, format="PNG")
    buffer.seek(0)
    rows, columns = key.rgb.shape[:2]
    return Image(buffer, width=width_mm * mm, height=width_mm * mm * rows / columns)


def plan_report_pdf(content: ReportContent) -> bytes:
    """The report as PDF bytes (A4)."""
    plan, styles, story = content.plan, _styles(), []
    side = "" if plan.side == "midline" else f" — {plan.side}"
    story.append(Paragraph(_esc(f"{PROCEDURE_NAMES[plan.procedure]}{side}"), styles["title"]))
    status = "APPROVED" if plan.approved else "DRAFT — not approved"
    story.append(Paragraph(_esc(f"Injection procedure plan · level {plan.level} · version {plan.version} · {status}"),
                           styles["subtitle"]))
    story.append(Spacer(1, 4 * mm))

    p = content.patient
    story.append(_grid(
        [
            ["Patient", p.name or "—", "Patient ID", p.patient_id or "—"],
            ["Birth date", p.birth_date or "—", "Sex", p.sex or "—"],
            ["Study", f"{p.study_date} {p.study_description}".strip() or "—", "Accession", p.accession_number or "—"],
            ["Planned by", f"{plan.author}, {_time(plan.created)}", "Approved",
             f"{plan.approval.name}, {_time(plan.approval.time)}" if plan.approval else "not yet"],
        ],
        [24 * mm, 64 * mm, 24 * mm, 64 * mm], styles,
    ))

    story.append(Paragraph("Finding at L5–S1 (Lumbar Disc Nomenclature 2.0)", styles["h2"]))
    story.append(_finding_table(plan.finding or {}, content.analysis, styles))
    story.append(Paragraph(_esc(level_sentence(plan)), styles["body"]))

    story.append(Paragraph("Needle trajectories", styles["h2"]))
    story.append(_trajectory_table(plan, content.metrics, styles))
    story.append(Paragraph(
        "Coordinates are DICOM patient LPS in mm (x: towards the patient's left, y: posterior, z: superior). "
        "Craniocaudal angle: tilt from straight anterior, + cranial; mediolateral: + towards the patient's left. "
        "Closest distances are along the whole path to structures estimated from the MR.", styles["small"]))

    story.append(Paragraph("Warnings", styles["h2"]))
    warnings = list(dict.fromkeys(content.warnings))
    if warnings:
        for warning in warnings:
            story.append(Paragraph("• " + _esc(warning), styles["warning"]))
    else:
        story.append(Paragraph("None at the configured thresholds.", styles["body"]))

    story.append(Paragraph("Injectate and guidance", styles["h2"]))
    injectate = plan.injectate
    rows = [["Injectate", f"{INJECTATE_NAMES[injectate.kind]}, {injectate.volume_ml:g} mL"
             + (f" ({injectate.description})" if injectate.description else "")]]
    rows.append(["Guidance", ", ".join(sorted({t.guidance for t in plan.trajectories})) or "—"])
    us = plan.ultrasound
    if us is not None:
        parts = ultrasound_summary(us)
        rows.append(["Ultrasound approach", (", ".join(parts) or "marked") + f" (frame {us.frame_number})"])
    if plan.notes:
        rows.append(["Notes", plan.notes])
    story.append(_grid(rows, [40 * mm, 136 * mm], styles))

    if plan.fasciculation:
        from planner.export.fasciculation_report import fasciculation_rows, timeline_drawing

        record = plan.fasciculation
        notes = [w for key in ("muscle", "control") if record.get(key) for w in record[key].get("warnings", [])]
        story.append(KeepTogether([
            Paragraph("Fasciculations on ultrasound", styles["h2"]),
            _grid(fasciculation_rows(record), [52 * mm, 18 * mm, 36 * mm, 26 * mm, 44 * mm], styles, header=True),
            Spacer(1, 2 * mm),
            timeline_drawing(record, font=_fonts()[0]),
            Paragraph(_esc(record["interpretation"]), styles["body"]),
            *[Paragraph("• " + _esc(note), styles["small"]) for note in dict.fromkeys(notes)],
        ]))

    if content.images:
        story.append(Paragraph("Key images", styles["h2"]))
        cells, row = [], []
        for key in content.images:
            row.append([_image_flowable(key, 84), Paragraph(_esc(key.title), styles["small"])])
            if len(row) == 2:
                cells.append(row)
                row = []
        if row:
            cells.append(row + [""])
        table = Table(cells, colWidths=[88 * mm, 88 * mm], hAlign="LEFT")
        table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(table)

    history = [f"{e.event} by {e.name}, {_time(e.time)}" + (f" ({e.reason})" if e.reason else "") for e in plan.history]
    story.append(KeepTogether([
        Paragraph("Record", styles["h2"]),
        Paragraph(_esc("; ".join(history) or "created " + _time(plan.created)), styles["body"]),
        Paragraph(_esc(f"Plan {plan.plan_uid}, version {plan.version}, last changed {_time(plan.modified)}. "
                       f"Made with {SOFTWARE} {SOFTWARE_VERSION}; the measurements support, and do not replace, "
                       "the physician's judgement on the images."), styles["small"]),
    ]))

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=17 * mm, rightMargin=17 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=f"Injection plan {plan.plan_uid} v{plan.version}",
                            author=plan.author, creator=SOFTWARE, invariant=1)

    def footer(canvas, document):
        canvas.saveState()
        canvas.setFont(_fonts()[0], 7.5)
        canvas.setFillColor(colors.HexColor("#666666"))
        canvas.drawString(17 * mm, 9 * mm, f"{p.name} · {p.patient_id} · {PROCEDURE_NAMES[plan.procedure]} · v{plan.version}")
        canvas.drawRightString(A4[0] - 17 * mm, 9 * mm, f"page {document.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def level_sentence(plan: Plan) -> str:
    """How the plan's level was established, in one sentence for the report."""
    check = plan.level_check
    if check is None:
        return "Level: counted from the sacrum (how it was checked was not recorded with this plan)."
    shift = f", shifted by {check.level_shift:+d} level{'s' if abs(check.level_shift) != 1 else ''}" if check.level_shift else ""
    if check.confirmed_by:
        sure = "confident" if check.confidence == "high" else "not certain: " + " ".join(check.reasons)
        return f"Level: counted from the sacrum ({sure}){shift}; confirmed by {check.confirmed_by}, {_time(check.confirmed_at)}."
    return f"Level: counted from the sacrum, every check of the count held{shift}."


def _finding_table(finding: dict, analysis: dict | None, styles) -> Table:
    """The finding's rows in the words of :func:`planner.disc.finding_text.describe` (as the panel and the CLI say it)."""
    values = {**finding, **(analysis or {})}  # the analysis has more than the plan's summary
    wording = describe(values)
    rows = [[label, text] for key, label, text in wording.rows if key not in ("side", "zone")]
    if values.get("reliable") is not False and values.get("classification") != "not assessable":
        rows[0] = ["Classification", f"{wording.text('classification')}, side {values.get('side') or '—'}, zone {values.get('zone') or '—'}"]
    return _grid(rows, [40 * mm, 136 * mm], styles)


def _trajectory_table(plan: Plan, metrics: dict, styles) -> Table:
    rows = [["", *[f"{t.id}: {t.label}" for t in plan.trajectories]]]
    if not plan.trajectories:
        return _grid([["No trajectory planned."]], [176 * mm], styles)

    def row(name, get):
        rows.append([name, *[get(t, metrics.get(t.id) or {}) for t in plan.trajectories]])

    row("Skin entry (LPS mm)", lambda t, m: _point(t.entry_lps))
    row("Target (LPS mm)", lambda t, m: _point(t.target_lps))
    row("Length / depth", lambda t, m: f"{m['length_mm']:.1f} mm / {m['depth_mm']:.1f} mm" if m else "—")
    row("Craniocaudal / mediolateral", lambda t, m: f"{m['craniocaudal_deg']:+.1f}° / {m['mediolateral_deg']:+.1f}°" if m else "—")
    row("To the disc plane", lambda t, m: f"{m['disc_plane_deg']:.1f}°" if m.get("disc_plane_deg") is not None else "—")
    row("C-arm", lambda t, m: m.get("c_arm", "—"))
    row("Needle", lambda t, m: t.needle.text + (f" ({m['needle_margin_mm']:.0f} mm spare"
                                                + ("" if m.get("needle_long_enough", True) else ": TOO SHORT") + ")" if m else ""))
    row("Guidance", lambda t, m: t.guidance)

    def margins(t, m):
        items = [d for d in m.get("distances", []) if d["min_distance_mm"] is not None and d["kind"] != "unimaged"]
        return "; ".join(f"{d['structure']} {d['min_distance_mm']:.1f} mm" for d in items) or "—"

    row("Closest distances", margins)
    first = 40 * mm
    width = (176 * mm - first) / len(plan.trajectories)
    return _grid(rows, [first] + [width] * len(plan.trajectories), styles, header=True)


def encapsulated_pdf(pdf: bytes, source: pydicom.Dataset, identity: ExportIdentity, title: str) -> pydicom.Dataset:
    """The PDF as an Encapsulated PDF instance in the source's study (PS3.3 A.45.1)."""
    ds = pydicom.Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = identity.uid("pdf")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.SOPInstanceUID = identity.uid("pdf")
    ds.PatientName = ""
    ds.PatientID = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyID = ""
    ds.ReferringPhysicianName = ""
    ds.AccessionNumber = ""
    copy_study_attributes(source, ds)
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = identity.uid("pdf-series")
    ds.SeriesNumber = SERIES_NUMBERS["pdf"]
    ds.SeriesDescription = "Injection plan report (PDF)"
    ds.SeriesDate, ds.SeriesTime = identity.content_date, identity.content_time
    ds.Manufacturer = SOFTWARE
    ds.SoftwareVersions = SOFTWARE_VERSION
    ds.ConversionType = "WSD"
    ds.InstanceNumber = 1
    ds.ContentDate, ds.ContentTime = identity.content_date, identity.content_time
    ds.InstanceCreationDate, ds.InstanceCreationTime = identity.content_date, identity.content_time
    ds.AcquisitionDateTime = identity.content_date + identity.content_time
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title[:64]
    concept = pydicom.Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = "18748-4", "LN", "Diagnostic imaging study"
    ds.ConceptNameCodeSequence = [concept]
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    return ds


def pdf_pages(pdf: bytes) -> int:
    """Pages in a PDF (for tests and the CLI summary): counts /Type /Page objects."""
    import re

    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))

