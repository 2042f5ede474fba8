"""The persistent outbox: what is to go to a PACS stays queued until the PACS confirms it.

Each queued instance is a file copy plus a row in SQLite (``outbox.sqlite``
beside it). Sending takes every due item of a node in one association; an item
is marked sent only on a success status from the PACS. A failure keeps the item
with its reason (network down, presentation context refused, the status code and
its meaning) and a next attempt after a back-off (30 s, doubling, at most 1 h),
across restarts. Nothing is dropped silently: only :meth:`Outbox.discard`, asked
for by the user, removes a waiting item.

Each item stands alone: a sender claims the items it sends in the database
before it sends them, so two senders (two windows, a window and
``main.py pacs outbox --send``) never send one item twice; a claim left by a
sender that died is released. A queued copy that is missing or unreadable
fails that item alone (state ``failed``, with the file and the reason; it is not
retried, the user discards it) and the others are sent. The copies hold patient
data: the folder is readable by the user only, and each copy is deleted as soon
as the PACS has confirmed it.

    outbox = Outbox()                       # in the user data folder
    outbox.enqueue(node, bundle.datasets)
    outbox.process()                        # send what is due; returns how many were sent / failed
    for item in outbox.items(pending_only=True): print(item.description, item.last_error)
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import pydicom

from planner.app_paths import data_folder
from planner.errors import OutboxError, PacsError
from planner.pacs.network import PacsNode, StoreResult, store
from planner.progress import CancelToken, ProgressCallback

BACKOFF_FIRST_S = 30.0
BACKOFF_MAX_S = 3600.0
#: a claim older than this is released even when its process still runs (a hung sender)
CLAIM_STALE_S = 3600.0
#: item states that still wait for the PACS (``failed``: the queued copy is gone; only a discard ends it)
WAITING = ("pending", "failed")
_WAITING_SQL = "state IN ('pending', 'failed')"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL,
    node_label TEXT NOT NULL,
    sop_instance_uid TEXT NOT NULL,
    sop_class_uid TEXT NOT NULL,
    path TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    next_attempt REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    sent REAL,
    claimed_by TEXT NOT NULL DEFAULT '',
    claimed_at REAL NOT NULL DEFAULT 0,
    UNIQUE (node, sop_instance_uid)
);
"""
#: columns added after the first release: (name, declaration) for outboxes made before them
_ADDED_COLUMNS = (("claimed_by", "TEXT NOT NULL DEFAULT ''"), ("claimed_at", "REAL NOT NULL DEFAULT 0"))


def backoff_s(attempts: int) -> float:
    return min(BACKOFF_FIRST_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S)


@dataclass(frozen=True)
class OutboxItem:
    id: int
    node: PacsNode
    sop_instance_uid: str
    sop_class_uid: str
    path: str
    description: str
    state: str  # pending | failed (the queued copy cannot be read) | sent
    attempts: int
    last_error: str
    next_attempt: float
    created: float
    sent: float | None


@dataclass(frozen=True)
class SendSummary:
    sent: int
    failed: int
    reasons: tuple[str, ...]  # distinct reasons of the failures


def _describe(ds: pydicom.Dataset) -> str:
    what = getattr(ds, "SeriesDescription", "") or getattr(ds, "Modality", "")
    return f"{what} #{getattr(ds, 'InstanceNumber', '')}".strip(" #")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


class Outbox:
    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder else data_folder() / "outbox"
        (self.folder / "files").mkdir(parents=True, exist_ok=True)
        for private in (self.folder, self.folder / "files"):  # patient data: the user's alone
            os.chmod(private, 0o700)
        self.path = self.folder / "outbox.sqlite"
        with self._db() as db:
            db.executescript(_SCHEMA)
            columns = {row["name"] for row in db.execute("PRAGMA table_info(items)")}
            for name, declaration in _ADDED_COLUMNS:
                if name not in columns:
                    db.execute(f"ALTER TABLE items ADD COLUMN {name} {declaration}")
        os.chmod(self.path, 0o600)

    @contextmanager
    def _db(self):
        db = sqlite3.connect(self.path, timeout=30.0)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
            yield db
            db.commit()
        finally:
            db.close()

    # --- queueing ---

    def enqueue(self, node: PacsNode, datasets: Iterable[pydicom.Dataset]) -> list[int]:
        """Queue each dataset for ``node`` (a file copy is kept until the PACS confirms it); the item ids.

        An instance already queued or sent to the same node is not queued twice:
        the same SOP Instance UID is the same object (export UIDs follow the plan's content).
        """
        key = json.dumps(asdict(node), sort_keys=True)
        ids = []
        now = time.time()
        with self._db() as db:
            for ds in datasets:
                uid = str(ds.SOPInstanceUID)
                row = db.execute("SELECT id, state FROM items WHERE node = ? AND sop_instance_uid = ?", (key, uid)).fetchone()
                if row is not None:
                    ids.append(int(row["id"]))
                    continue
                path = self.folder / "files" / f"{uid}.dcm"
                if not path.exists():
                    temporary = path.with_suffix(".part")
                    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fp:
                        ds.save_as(fp, enforce_file_format=True)
                    temporary.replace(path)
                cursor = db.execute(
                    "INSERT INTO items (node, node_label, sop_instance_uid, sop_class_uid, path, description, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, node.label, uid, str(ds.SOPClassUID), str(path), _describe(ds), now),
                )
                ids.append(int(cursor.lastrowid))
        return ids

    def send(self, node: PacsNode, datasets: Iterable[pydicom.Dataset], progress: ProgressCallback | None = None,
             cancel: CancelToken | None = None) -> SendSummary:
        """Queue ``datasets`` for ``node`` and send everything pending now; what fails stays queued."""
        self.enqueue(node, datasets)
        return self.process(due_only=False, progress=progress, cancel=cancel)

    def items(self, pending_only: bool = False) -> list[OutboxItem]:
        """Every item, or (``pending_only``) those still waiting for the PACS: pending and failed."""
        return self._select(f" WHERE {_WAITING_SQL}" if pending_only else "")

    def _select(self, where: str = "", parameters: tuple = ()) -> list[OutboxItem]:
        with self._db() as db:
            rows = db.execute(f"SELECT * FROM items{where} ORDER BY id", parameters).fetchall()
        return [
            OutboxItem(r["id"], PacsNode(**json.loads(r["node"])), r["sop_instance_uid"], r["sop_class_uid"], r["path"],
                       r["description"], r["state"], r["attempts"], r["last_error"], r["next_attempt"], r["created"],
                       r["sent"])
            for r in rows
        ]

    def pending_count(self) -> int:
        with self._db() as db:
            return int(db.execute(f"SELECT COUNT(*) FROM items WHERE {_WAITING_SQL}").fetchone()[0])

    def discard(self, item_id: int) -> None:
        """Remove one waiting item (the user's decision; it will not be sent).

        Raises:
            OutboxError: no waiting item has this id, or a sender is sending it right now.
        """
        with self._db() as db:
            self._release_stale(db)
            row = db.execute("SELECT path, state, claimed_by FROM items WHERE id = ?", (item_id,)).fetchone()
            if row is None or row["state"] not in WAITING:
                raise OutboxError(f"outbox item {item_id}: no such item waits to be sent"
                                  + (" (it was confirmed by the PACS)" if row is not None else ""))
            if row["claimed_by"]:
                raise OutboxError(f"outbox item {item_id} is being sent right now: discard it when the send is over")
            db.execute("DELETE FROM items WHERE id = ?", (item_id,))
        self._remove_file_if_unused(row["path"])

    def _remove_file_if_unused(self, path: str) -> None:
        with self._db() as db:
            used = db.execute(f"SELECT COUNT(*) FROM items WHERE path = ? AND {_WAITING_SQL}", (path,)).fetchone()[0]
        if not used:
            Path(path).unlink(missing_ok=True)

    # --- sending ---

    def _release_stale(self, db) -> None:
        """Release the claims of senders that died (their process is gone) or hang (older than an hour)."""
        for (owner,) in db.execute("SELECT DISTINCT claimed_by FROM items WHERE claimed_by != ''").fetchall():
            pid = int(owner.split(":", 1)[0]) if owner.split(":", 1)[0].isdigit() else -1
            if pid < 0 or not _pid_alive(pid):
                db.execute("UPDATE items SET claimed_by = '' WHERE claimed_by = ?", (owner,))
        db.execute("UPDATE items SET claimed_by = '' WHERE claimed_by != '' AND claimed_at < ?",
                   (time.time() - CLAIM_STALE_S,))

    def _claim(self, now: float, due_only: bool) -> tuple[str, list[OutboxItem]]:
        """Claim every pending, unclaimed item that is due (in one write: no other sender gets them)."""
        token = f"{os.getpid()}:{uuid.uuid4().hex}"
        with self._db() as db:
            self._release_stale(db)
            db.execute(
                "UPDATE items SET claimed_by = ?, claimed_at = ? WHERE state = 'pending' AND claimed_by = ''"
                + (" AND next_attempt <= ?" if due_only else ""),
                (token, time.time(), now) if due_only else (token, time.time()),
            )
        return token, self._select(" WHERE claimed_by = ?", (token,))

    def _release(self, token: str) -> None:
        with self._db() as db:
            db.execute("UPDATE items SET claimed_by = '' WHERE claimed_by = ?", (token,))

    def process(self, now: float | None = None, due_only: bool = True, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> SendSummary:
        """Send every pending item that is due (all pending ones with ``due_only=False``), node by node; items
        another sender has claimed are left to it."""
        now = time.time() if now is None else now
        started = time.monotonic()

        def failed_at() -> float:
            """The time of a failure on ``now``'s clock: the backoff runs from the failure, not from the start of a
            batch that may have taken longer than the backoff (items would be due again at once: hammering)."""
            return now + (time.monotonic() - started)

        token, claimed = self._claim(now, due_only)
        sent = failed = 0
        reasons: list[str] = []
        try:
            by_node: dict[PacsNode, list[tuple[OutboxItem, pydicom.Dataset]]] = {}
            for item in claimed:
                try:
                    ds = pydicom.dcmread(item.path)
                    str(ds.SOPInstanceUID)
                except Exception as error:  # noqa: BLE001 - any unreadable copy fails that item alone
                    reason = (f"the queued copy {item.path} cannot be read ({type(error).__name__}: "
                              f"{str(error)[:160]}); discard the item and export again")
                    failed += 1
                    reasons.append(reason)
                    self._mark_unreadable(item, reason)
                    continue
                by_node.setdefault(item.node, []).append((item, ds))
            for node, pairs in by_node.items():
                by_uid = {item.sop_instance_uid: item for item, _ds in pairs}
                handled: set[str] = set()

                def record(result: StoreResult) -> None:
                    nonlocal sent, failed
                    handled.add(result.sop_instance_uid)
                    item = by_uid[result.sop_instance_uid]
                    if result.ok:
                        sent += 1
                        self._mark_sent(item)
                    else:
                        failed += 1
                        reasons.append(result.reason)
                        self._mark_failed(item, result.reason, failed_at())

                try:
                    store(node, [ds for _item, ds in pairs], progress=progress, cancel=cancel, on_result=record)
                except (PacsError, OSError) as error:
                    # no association, or it broke off: the rest stay queued
                    reason = str(error) if isinstance(error, PacsError) else f"{node.label}: {error}"
                    for uid, item in by_uid.items():
                        if uid not in handled:
                            failed += 1
                            self._mark_failed(item, reason, failed_at())
                    reasons.append(reason)
        finally:
            self._release(token)  # what was not reached (a cancel) goes back to pending, unclaimed
        return SendSummary(sent, failed, tuple(dict.fromkeys(reasons)))

    def _mark_sent(self, item: OutboxItem) -> None:
        with self._db() as db:
            db.execute("UPDATE items SET state = 'sent', sent = ?, last_error = '', claimed_by = '' WHERE id = ?",
                       (time.time(), item.id))
        self._remove_file_if_unused(item.path)

    def _mark_failed(self, item: OutboxItem, reason: str, now: float) -> None:
        with self._db() as db:
            attempts = int(db.execute("SELECT attempts FROM items WHERE id = ?", (item.id,)).fetchone()[0]) + 1
            db.execute(
                "UPDATE items SET attempts = ?, last_error = ?, next_attempt = ?, claimed_by = '' WHERE id = ?",
                (attempts, reason, now + backoff_s(attempts), item.id),
            )

    def _mark_unreadable(self, item: OutboxItem, reason: str) -> None:
        with self._db() as db:
            db.execute("UPDATE items SET state = 'failed', attempts = attempts + 1, last_error = ?, claimed_by = '' "
                       "WHERE id = ?", (reason, item.id))
