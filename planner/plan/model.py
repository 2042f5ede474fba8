"""The procedure plan document (issue 5): values, JSON form and validation against the schema.

A :class:`Plan` is an immutable value: every edit makes a new one (see
:mod:`planner.plan.document` for the editable, undoable document around it).
Its JSON form is described by ``planner/schemas/plan-2.schema.json``; reading
a file validates it against that schema and a failure names the field:

    plan = plan_from_dict(json.loads(text), source="case.plan.json")
    text = json.dumps(plan_to_dict(plan))

Coordinates are DICOM patient LPS in millimetres; images are referenced by
Study/Series/SOP Instance UID.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import json
from dataclasses import dataclass, field, replace
from importlib import resources

from pydicom.uid import generate_uid

from planner.errors import PlanFormatError

SCHEMA_VERSION = 2
PROCEDURES = ("transforaminal-s1", "interlaminar-l5s1", "caudal", "intradiscal-l5s1")
SIDES = ("left", "right", "midline")
GUIDANCE = ("ultrasound", "fluoroscopy", "both")
TIPS = ("quincke", "whitacre", "sprotte", "tuohy", "chiba", "other")
INJECTATES = ("platelet-lysate", "culture-expanded-cells", "other")
#: procedures that are done on one side; the others are midline
SIDED = ("transforaminal-s1", "intradiscal-l5s1")


def now_iso() -> str:
    """Local time with its UTC offset, to the second (the plan's timestamps)."""
    return _dt.datetime.now().astimezone().replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Needle:
    gauge: int = 22
    length_mm: float = 90.0
    tip: str = "quincke"

    def __post_init__(self) -> None:
        if not 14 <= int(self.gauge) <= 30:
            raise ValueError(f"needle gauge {self.gauge} is outside 14-30 G")
        if not 20.0 <= float(self.length_mm) <= 250.0:
            raise ValueError(f"needle length {self.length_mm} mm is outside 20-250 mm")
        if self.tip not in TIPS:
            raise ValueError(f"unknown needle tip {self.tip!r} ({', '.join(TIPS)})")

    @property
    def text(self) -> str:
        return f"{self.gauge} G {self.length_mm:g} mm {self.tip}"


@dataclass(frozen=True)
class Trajectory:
    """One needle: skin entry and target (LPS mm), the needle and how it is guided."""

    id: str
    label: str
    entry_lps: tuple[float, float, float]
    target_lps: tuple[float, float, float]
    needle: Needle = Needle()
    guidance: str = "ultrasound"
    origin: str = "manual"  # "suggested" when it came from the analysis and was accepted

    def __post_init__(self) -> None:
        for name in ("entry_lps", "target_lps"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 3:
                raise ValueError(f"{name} needs 3 coordinates, got {len(value)}")
            object.__setattr__(self, name, value)
        if self.guidance not in GUIDANCE:
            raise ValueError(f"unknown guidance {self.guidance!r} ({', '.join(GUIDANCE)})")
        if self.origin not in ("suggested", "manual"):
            raise ValueError(f"unknown trajectory origin {self.origin!r}")


@dataclass(frozen=True)
class Injectate:
    kind: str = "platelet-lysate"
    volume_ml: float = 2.0
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in INJECTATES:
            raise ValueError(f"unknown injectate {self.kind!r} ({', '.join(INJECTATES)})")
        if not 0.0 < float(self.volume_ml) <= 50.0:
            raise ValueError(f"injectate volume {self.volume_ml} mL is outside 0-50 mL")


@dataclass(frozen=True)
class UltrasoundApproach:
    """The in-plane needle path on one calibrated ultrasound frame (pixel (x, y), 1-based frame number)."""

    sop_instance_uid: str
    frame_number: int
    target_px: tuple[float, float]
    entry_px: tuple[float, float]
    series_instance_uid: str = ""
    depth_mm: float | None = None
    insertion_angle_deg: float | None = None
    probe_edge_distance_mm: float | None = None


@dataclass(frozen=True)
class Approval:
    name: str
    time: str


@dataclass(frozen=True)
class LevelCheck:
    """How the plan's level was established: the analysis' confidence in its count from the sacrum, and, when
    a person confirmed or shifted the labels, who and when (issue 23's safety interlock)."""

    confidence: str  # "high" | "low"
    reasons: tuple[str, ...] = ()
    level_shift: int = 0
    confirmed_by: str = ""
    confirmed_at: str = ""

    def __post_init__(self) -> None:
        if self.confidence not in ("high", "low"):
            raise ValueError(f"unknown level confidence {self.confidence!r}")
        object.__setattr__(self, "reasons", tuple(str(r) for r in self.reasons))
        if bool(self.confirmed_by) != bool(self.confirmed_at):
            raise ValueError("a level confirmation needs both who confirmed and when")

    @property
    def settled(self) -> bool:
        """Whether a plan may be built on the level: the count is sure, or a person confirmed or shifted it."""
        return self.confidence == "high" or bool(self.confirmed_by)

    def as_dict(self) -> dict:
        out = {"confidence": self.confidence, "reasons": list(self.reasons), "level_shift": self.level_shift}
        if self.confirmed_by:
            out.update(confirmed_by=self.confirmed_by, confirmed_at=self.confirmed_at)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "LevelCheck":
        return cls(
            data["confidence"], tuple(data.get("reasons", ())), int(data.get("level_shift", 0)),
            data.get("confirmed_by", ""), data.get("confirmed_at", ""),
        )


@dataclass(frozen=True)
class HistoryEvent:
    event: str  # created | approved | reopened
    name: str
    time: str
    version: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class StudyRef:
    study_instance_uid: str
    frame_of_reference_uid: str = ""
    patient_id: str = ""
    patient_name: str = ""
    study_path: str = ""
    series: tuple[tuple[str, str, str, str], ...] = ()  # (role, series_instance_uid, description, modality)

    def series_uid(self, role: str) -> str:
        return next((uid for r, uid, _d, _m in self.series if r == role), "")


@dataclass(frozen=True)
class Plan:
    """One procedure plan (see the module docstring); edit with :func:`dataclasses.replace`."""

    study: StudyRef
    procedure: str
    side: str
    author: str
    plan_uid: str = field(default_factory=generate_uid)
    version: int = 1
    level: str = "L5-S1"
    trajectories: tuple[Trajectory, ...] = ()
    injectate: Injectate = Injectate()
    finding: dict | None = None
    ultrasound: UltrasoundApproach | None = None
    notes: str = ""
    created: str = field(default_factory=now_iso)
    modified: str = ""
    status: str = "draft"
    approval: Approval | None = None
    history: tuple[HistoryEvent, ...] = ()
    level_check: LevelCheck | None = None
    fasciculation: dict | None = None  # planner.fasciculation.record.plan_record

    def __post_init__(self) -> None:
        if self.procedure not in PROCEDURES:
            raise ValueError(f"unknown procedure {self.procedure!r} ({', '.join(PROCEDURES)})")
        if self.side not in SIDES:
            raise ValueError(f"unknown side {self.side!r} ({', '.join(SIDES)})")
        if self.procedure in SIDED and self.side == "midline":
            raise ValueError(f"a {self.procedure} plan needs a side (left or right)")
        if self.status not in ("draft", "approved"):
            raise ValueError(f"unknown plan status {self.status!r}")
        if self.status == "approved" and self.approval is None:
            raise ValueError("an approved plan needs the approver's name and time")
        if not self.author:
            raise ValueError("a plan needs an author")
        ids = [t.id for t in self.trajectories]
        if len(set(ids)) != len(ids):
            raise ValueError("trajectory ids must be unique")
        if not self.modified:
            object.__setattr__(self, "modified", self.created)

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    def trajectory(self, trajectory_id: str) -> Trajectory:
        for trajectory in self.trajectories:
            if trajectory.id == trajectory_id:
                return trajectory
        raise KeyError(f"no trajectory {trajectory_id!r} in the plan")


# --- JSON -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def plan_schema(version: int = SCHEMA_VERSION) -> dict:
    """The JSON schema of plan files of ``version`` (``planner/schemas/plan-2.schema.json``; version 1 is kept
    to read older files)."""
    return json.loads(resources.files("planner.schemas").joinpath(f"plan-{version}.schema.json").read_text("utf-8"))


def migrate_plan_dict(data: dict) -> dict:
    """A plan file's JSON in the current schema (a copy; the file is never changed). Version 1 kept the disc SEG
    and the source fingerprint inside ``computed``; version 2 keeps them in ``evidence``, with when they were
    saved."""
    if data.get("schema_version") != 1:
        return data
    data = dict(data, schema_version=SCHEMA_VERSION)
    computed = dict(data.get("computed") or {})
    evidence = {key: computed.pop(key) for key in ("disc_seg_file", "source") if key in computed}
    if "computed" in data:
        data["computed"] = computed
    if "source" in evidence:
        data["evidence"] = {**evidence, "saved_at": computed.get("computed_at") or data["modified"]}
    elif evidence:  # a SEG without a fingerprint cannot be checked against the images: not evidence
        data["computed"] = computed
    return data


def plan_to_dict(plan: Plan) -> dict:
    """The plan's JSON form (valid against :func:`plan_schema`)."""
    study = plan.study
    return {
        "schema_version": SCHEMA_VERSION,
        "plan_uid": plan.plan_uid,
        "version": plan.version,
        "study": {
            "study_instance_uid": study.study_instance_uid,
            "frame_of_reference_uid": study.frame_of_reference_uid,
            "patient_id": study.patient_id,
            "patient_name": study.patient_name,
            "study_path": study.study_path,
            "series": {
                role: {"series_instance_uid": uid, "description": description, "modality": modality}
                for role, uid, description, modality in study.series
            },
        },
        "level": plan.level,
        "level_check": None if plan.level_check is None else plan.level_check.as_dict(),
        "procedure": plan.procedure,
        "side": plan.side,
        "trajectories": [
            {
                "id": t.id,
                "label": t.label,
                "entry_lps": list(t.entry_lps),
                "target_lps": list(t.target_lps),
                "needle": {"gauge": t.needle.gauge, "length_mm": t.needle.length_mm, "tip": t.needle.tip},
                "guidance": t.guidance,
                "origin": t.origin,
            }
            for t in plan.trajectories
        ],
        "injectate": {
            "kind": plan.injectate.kind,
            "volume_ml": plan.injectate.volume_ml,
            "description": plan.injectate.description,
        },
        "finding": plan.finding,
        "ultrasound": None
        if plan.ultrasound is None
        else {
            "series_instance_uid": plan.ultrasound.series_instance_uid,
            "sop_instance_uid": plan.ultrasound.sop_instance_uid,
            "frame_number": plan.ultrasound.frame_number,
            "target_px": list(plan.ultrasound.target_px),
            "entry_px": list(plan.ultrasound.entry_px),
            **{
                key: getattr(plan.ultrasound, key)
                for key in ("depth_mm", "insertion_angle_deg", "probe_edge_distance_mm")
                if getattr(plan.ultrasound, key) is not None
            },
        },
        "notes": plan.notes,
        "author": plan.author,
        "created": plan.created,
        "modified": plan.modified,
        "status": plan.status,
        "approval": None if plan.approval is None else {"name": plan.approval.name, "time": plan.approval.time},
        "history": [
            {
                "event": e.event,
                "name": e.name,
                "time": e.time,
                **({"version": e.version} if e.version is not None else {}),
                **({"reason": e.reason} if e.reason else {}),
            }
            for e in plan.history
        ],
        **({"fasciculation": copy.deepcopy(plan.fasciculation)} if plan.fasciculation is not None else {}),
    }


def _field_path(path) -> str:
    parts = []
    for part in path:
        parts.append(f"[{part}]" if isinstance(part, int) else (f".{part}" if parts else str(part)))
    return "".join(parts) or "(the document)"


def validate_plan_dict(data, source: str = "plan") -> None:
    """Raise :class:`PlanFormatError` naming the first field that breaks the schema."""
    import jsonschema

    if isinstance(data, dict) and isinstance(data.get("schema_version"), int) and data["schema_version"] > SCHEMA_VERSION:
        raise PlanFormatError(
            source, "schema_version", f"was written by a newer version of the planner (schema {data['schema_version']})"
        )
    version = data.get("schema_version") if isinstance(data, dict) else None
    validator = jsonschema.Draft202012Validator(plan_schema(version if version in (1, SCHEMA_VERSION) else SCHEMA_VERSION))
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        error = errors[0]
        raise PlanFormatError(source, _field_path(error.absolute_path), error.message)


def plan_from_dict(data, source: str = "plan") -> Plan:
    """Build a :class:`Plan` from its JSON form (a version-1 file is migrated); :class:`PlanFormatError` names the
    field that is wrong."""
    validate_plan_dict(data, source)
    data = migrate_plan_dict(data)
    try:
        study = data["study"]
        ultrasound = data.get("ultrasound")
        return Plan(
            study=StudyRef(
                study_instance_uid=study["study_instance_uid"],
                frame_of_reference_uid=study.get("frame_of_reference_uid", ""),
                patient_id=study.get("patient_id", ""),
                patient_name=study.get("patient_name", ""),
                study_path=study.get("study_path", ""),
                series=tuple(
                    (role, ref["series_instance_uid"], ref.get("description", ""), ref.get("modality", ""))
                    for role, ref in study.get("series", {}).items()
                ),
            ),
            procedure=data["procedure"],
            side=data["side"],
            author=data["author"],
            plan_uid=data["plan_uid"],
            version=data["version"],
            level=data["level"],
            trajectories=tuple(
                Trajectory(
                    id=t["id"],
                    label=t["label"],
                    entry_lps=tuple(t["entry_lps"]),
                    target_lps=tuple(t["target_lps"]),
                    needle=Needle(**t["needle"]),
                    guidance=t["guidance"],
                    origin=t.get("origin", "manual"),
                )
                for t in data["trajectories"]
            ),
            injectate=Injectate(**data["injectate"]),
            finding=data.get("finding"),
            ultrasound=None
            if ultrasound is None
            else UltrasoundApproach(
                sop_instance_uid=ultrasound["sop_instance_uid"],
                frame_number=ultrasound["frame_number"],
                target_px=tuple(ultrasound["target_px"]),
                entry_px=tuple(ultrasound["entry_px"]),
                series_instance_uid=ultrasound.get("series_instance_uid", ""),
                depth_mm=ultrasound.get("depth_mm"),
                insertion_angle_deg=ultrasound.get("insertion_angle_deg"),
                probe_edge_distance_mm=ultrasound.get("probe_edge_distance_mm"),
            ),
            notes=data.get("notes", ""),
            created=data["created"],
            modified=data["modified"],
            status=data["status"],
            approval=None if not data.get("approval") else Approval(**data["approval"]),
            history=tuple(HistoryEvent(**e) for e in data.get("history", [])),
            level_check=None if not data.get("level_check") else LevelCheck.from_dict(data["level_check"]),
            fasciculation=copy.deepcopy(data.get("fasciculation")),
        )
    except ValueError as error:  # a rule the schema cannot say (e.g. a sided procedure without a side)
        raise PlanFormatError(source, "(the document)", str(error)) from error


def with_trajectory(plan: Plan, trajectory: Trajectory) -> Plan:
    """``plan`` with ``trajectory`` replacing the one with its id (or appended)."""
    if all(t.id != trajectory.id for t in plan.trajectories):
        return replace(plan, trajectories=plan.trajectories + (trajectory,))
    return replace(plan, trajectories=tuple(trajectory if t.id == trajectory.id else t for t in plan.trajectories))
