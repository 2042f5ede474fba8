"""DICOM network verbs against one PACS node (pynetdicom): echo, store, find, get.

    node = PacsNode.parse("ORTHANC@127.0.0.1:4242")
    echo(node)                                    # round-trip time in ms, or PacsError with the reason
    results = store(node, datasets_or_paths)      # one association; a StoreResult per instance
    studies = find(node, "STUDY", {"PatientID": "P1"})
    paths = get(node, study_uid, into="incoming/")

Every association sets TCP_NODELAY on its socket: without it each C-STORE
waits ~40-90 ms on Nagle's algorithm and the peer's delayed ACK. A failure is
a :class:`~planner.errors.PacsError` naming the node and the reason (network
down, association rejected, presentation context refused, a status code and
its meaning); per-instance store failures are returned, not raised, so the
caller (the outbox) can keep each item's own reason.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)
from pynetdicom.status import QR_GET_SERVICE_CLASS_STATUS, STORAGE_SERVICE_CLASS_STATUS

from planner.app_paths import data_folder
from planner.errors import PacsError
from planner.progress import CancelToken, ProgressCallback, check, report

DEFAULT_CALLING_AET = "SPINEPLANNER"
_AET = re.compile(r"^[ -~]{1,16}$")


@dataclass(frozen=True)
class PacsNode:
    """A DICOM peer: its AE title, host and port, our calling AE title, and TLS when asked for."""

    ae_title: str
    host: str
    port: int
    calling_ae_title: str = DEFAULT_CALLING_AET
    name: str = ""
    tls: bool = False
    tls_ca_file: str = ""  # CA certificate(s) to verify the peer; empty: the system's
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        for field, value in (("AE title", self.ae_title), ("calling AE title", self.calling_ae_title)):
            if not _AET.match(value) or "\\" in value or not value.strip():
                raise ValueError(f"{field} {value!r} must be 1-16 printable characters without backslash")
        if not 0 < int(self.port) < 65536:
            raise ValueError(f"port {self.port} is outside 1-65535")
        if not self.host:
            raise ValueError("the PACS host is empty")

    @property
    def label(self) -> str:
        return self.name or f"{self.ae_title}@{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str, calling_ae_title: str = DEFAULT_CALLING_AET) -> "PacsNode":
        """``AET@HOST:PORT`` (the CLI's form)."""
        match = re.match(r"^([^@]+)@(\[[^\]]+\]|[^:]+):(\d+)$", text.strip())
        if not match:
            raise ValueError(f"{text!r} is not AET@HOST:PORT (e.g. ORTHANC@127.0.0.1:4242)")
        return cls(match.group(1), match.group(2).strip("[]"), int(match.group(3)), calling_ae_title)


# --- settings --------------------------------------------------------------------------------------


def nodes_file() -> Path:
    return data_folder() / "pacs-nodes.json"


def load_nodes(path: str | os.PathLike | None = None) -> list[PacsNode]:
    """The configured PACS nodes (none when the file does not exist yet)."""
    file = Path(path) if path else nodes_file()
    if not file.exists():
        return []
    try:
        items = json.loads(file.read_text(encoding="utf-8"))
        return [PacsNode(**item) for item in items]
    except (ValueError, TypeError) as error:
        raise PacsError(f"{file}: the PACS settings cannot be read ({error})") from error


def save_nodes(nodes: Sequence[PacsNode], path: str | os.PathLike | None = None) -> None:
    from planner.plan.store import atomic_write_text

    file = Path(path) if path else nodes_file()
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(file, json.dumps([asdict(n) for n in nodes], indent=1))


# --- associations ----------------------------------------------------------------------------------


def _no_delay(event) -> None:
    sock = event.assoc.dul.socket.socket
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _ae(node: PacsNode) -> AE:
    ae = AE(ae_title=node.calling_ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = node.timeout_s
    ae.connection_timeout = min(node.timeout_s, 10.0)
    return ae


def _associate(node: PacsNode, ae: AE, **kwargs):
    opened = []

    def on_open(event) -> None:
        opened.append(True)
        _no_delay(event)

    handlers = [(evt.EVT_CONN_OPEN, on_open)] + kwargs.pop("evt_handlers", [])
    tls_args = None
    if node.tls:
        context = ssl.create_default_context(cafile=node.tls_ca_file or None)
        tls_args = (context, node.host)
    try:
        assoc = ae.associate(node.host, int(node.port), ae_title=node.ae_title, tls_args=tls_args,
                             evt_handlers=handlers, **kwargs)
    except (OSError, ssl.SSLError) as error:
        raise PacsError(f"{node.label}: cannot connect ({error})") from error
    if assoc.is_established:
        return assoc
    if not opened:
        raise PacsError(f"{node.label}: cannot connect to {node.host}:{node.port} "
                        "(connection refused or timed out: network down or PACS not running)")
    if assoc.is_rejected:
        raise PacsError(f"{node.label}: association rejected (check the AE titles: we are "
                        f"{node.calling_ae_title}, calling {node.ae_title})")
    if assoc.is_aborted:
        raise PacsError(f"{node.label}: association aborted by the peer")
    raise PacsError(f"{node.label}: no answer at {node.host}:{node.port} (network down or PACS not running)")


def status_text(code: int | None, table=STORAGE_SERVICE_CLASS_STATUS) -> str:
    """``0xA700 Out of resources`` for a DIMSE status code."""
    if code is None:
        return "no response (connection lost, timed out or aborted)"
    category, meaning = table.get(code, ("", ""))
    meaning = meaning or category or "unknown status"
    return f"0x{code:04X} {meaning}".strip()


def echo(node: PacsNode) -> float:
    """C-ECHO; the round trip in ms. Raises PacsError with the reason."""
    import time

    ae = _ae(node)
    ae.add_requested_context(Verification)
    start = time.perf_counter()
    assoc = _associate(node, ae)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    code = getattr(status, "Status", None)
    if code != 0x0000:
        raise PacsError(f"{node.label}: C-ECHO failed: {status_text(code)}")
    return (time.perf_counter() - start) * 1000.0


# --- store -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreResult:
    sop_instance_uid: str
    ok: bool
    reason: str = ""  # why not, in words, with the status code when there is one
    status: int | None = None


def _load(item) -> Dataset:
    return item if isinstance(item, Dataset) else pydicom.dcmread(item)


def store(node: PacsNode, items: Iterable, progress: ProgressCallback | None = None,
          cancel: CancelToken | None = None, on_result=None) -> list[StoreResult]:
    """C-STORE every dataset (or file path) in one association; a :class:`StoreResult` per instance.

    Raises PacsError when no association can be made at all (nothing was stored).
    ``on_result(result)`` is called after each instance (the outbox records it at once).
    """
    datasets = [_load(item) for item in items]
    if not datasets:
        return []
    ae = _ae(node)
    contexts = sorted({(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets})
    for sop_class in sorted({c for c, _ in contexts}):
        own = [t for c, t in contexts if c == sop_class]  # first: stored as written, byte for byte
        ae.add_requested_context(sop_class, list(dict.fromkeys(own + [ExplicitVRLittleEndian, ImplicitVRLittleEndian])))
    if len(ae.requested_contexts) > 128:
        raise PacsError(f"{node.label}: more than 128 SOP classes in one send")
    assoc = _associate(node, ae)
    results = []
    try:
        accepted = {cx.abstract_syntax for cx in assoc.accepted_contexts}
        for n, ds in enumerate(datasets):
            check(cancel)
            uid = str(ds.SOPInstanceUID)
            if str(ds.SOPClassUID) not in accepted:
                result = StoreResult(uid, False, f"{node.label} refused the presentation context for SOP class "
                                                 f"{ds.SOPClassUID} ({UID(ds.SOPClassUID).name})")
            elif not assoc.is_established:
                result = StoreResult(uid, False, f"{node.label}: the association was lost before this instance")
            else:
                try:
                    status = assoc.send_c_store(ds)
                except (OSError, RuntimeError, ValueError) as error:
                    result = StoreResult(uid, False, f"{node.label}: {error}")
                else:
                    code = getattr(status, "Status", None)
                    ok = code is not None and (code == 0x0000 or code in (0xB000, 0xB007, 0xB006))
                    result = StoreResult(uid, ok, "" if ok else f"{node.label}: C-STORE {status_text(code)}", code)
            results.append(result)
            if on_result is not None:
                on_result(result)
            report(progress, n + 1, len(datasets), f"Sent {n + 1} of {len(datasets)} to {node.label}")
    finally:
        if assoc.is_established:
            assoc.release()
    return results


# --- query / retrieve --------------------------------------------------------------------------------

LEVEL_KEYS = {
    "PATIENT": ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "NumberOfPatientRelatedStudies"],
    "STUDY": ["PatientName", "PatientID", "StudyInstanceUID", "StudyDate", "StudyTime", "StudyDescription",
              "AccessionNumber", "ModalitiesInStudy", "NumberOfStudyRelatedInstances"],
    "SERIES": ["StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
               "NumberOfSeriesRelatedInstances"],
}


def find(node: PacsNode, level: str, query: dict | None = None) -> list[Dataset]:
    """C-FIND at PATIENT, STUDY or SERIES level; ``query`` holds the matching keys (wildcards allowed)."""
    level = level.upper()
    if level not in LEVEL_KEYS:
        raise ValueError(f"query level {level!r} is not one of {', '.join(LEVEL_KEYS)}")
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level
    for keyword in LEVEL_KEYS[level]:
        setattr(identifier, keyword, "")
    for keyword, value in (query or {}).items():
        setattr(identifier, keyword, value)
    model = PatientRootQueryRetrieveInformationModelFind if level == "PATIENT" else StudyRootQueryRetrieveInformationModelFind
    ae = _ae(node)
    ae.add_requested_context(model)
    assoc = _associate(node, ae)
    found = []
    try:
        for status, answer in assoc.send_c_find(identifier, model):
            code = getattr(status, "Status", None)
            if code in (0xFF00, 0xFF01) and answer is not None:
                found.append(answer)
            elif code not in (0x0000, 0xFF00, 0xFF01):
                raise PacsError(f"{node.label}: C-FIND {status_text(code)}")
    finally:
        if assoc.is_established:
            assoc.release()
    return found


#: storage classes a retrieval must accept: the study's images and everything an export writes
RETRIEVE_FIRST = [
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.59",  # Key Object Selection
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image
]


def get(node: PacsNode, study_instance_uid: str, into, series_instance_uid: str | None = None,
        progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> list[Path]:
    """C-GET a study (or one series of it) into the folder ``into``; the files written."""
    from pynetdicom.presentation import StoragePresentationContexts

    out = Path(into)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    expected = [0]

    def on_store(event):
        if cancel is not None and cancel.cancelled:
            return 0xFE00  # cancelled: the PACS stops the remaining sub-operations
        ds = event.dataset
        ds.file_meta = event.file_meta
        path = out / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        written.append(path)
        report(progress, len(written), expected[0], f"Received {len(written)} instance(s) from {node.label}")
        return 0x0000

    ae = _ae(node)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    roles = []
    classes = list(dict.fromkeys(RETRIEVE_FIRST + [cx.abstract_syntax for cx in StoragePresentationContexts]))
    for sop_class in classes[:127]:  # 128 contexts at most, one is the C-GET's own
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        roles.append(build_role(sop_class, scp_role=True))
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "SERIES" if series_instance_uid else "STUDY"
    identifier.StudyInstanceUID = study_instance_uid
    if series_instance_uid:
        identifier.SeriesInstanceUID = series_instance_uid
    assoc = _associate(node, ae, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    failure = None
    try:
        for status, _answer in assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet):
            code = getattr(status, "Status", None)
            if code == 0xFF00:
                remaining = int(getattr(status, "NumberOfRemainingSuboperations", 0) or 0)
                expected[0] = max(expected[0], len(written) + remaining)
            elif code not in (0x0000,):
                failure = status_text(code, QR_GET_SERVICE_CLASS_STATUS)
            if cancel is not None and cancel.cancelled:
                assoc.send_c_cancel(1, None)
    finally:
        if assoc.is_established:
            assoc.release()
    if failure and not written:
        raise PacsError(f"{node.label}: C-GET {failure}")
    return written
