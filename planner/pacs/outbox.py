"""The persistent outbox: what is to go to a PACS stays queued until the PACS confirms it.

Each queued instance is a file copy plus a row in SQLite (``outbox.sqlite``
beside it). Sending takes every due item of a node in one association; an item
is marked sent only on a success status from the PACS. A failure keeps the item
with its reason (network down, presentation context refused, the status code and
its meaning) and a next attempt after a back-off (30 s, doubling, at most 1 h),
across restarts. Nothing is dropped silently: only :meth:`Outbox.discard`, asked
for by the user, removes a pending item.

    outbox = Outbox()                       # in the user data folder
    outbox.enqueue(node, bundle.datasets)
    outbox.process()                        # send what is due; returns how many were sent / failed
    for item in outbox.items(pending_only=True): print(item.description, item.last_error)
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import pydicom

from planner.app_paths import data_folder
from planner.errors import PacsError
from planner.pacs.network import PacsNode, StoreResult, store
from planner.progress import CancelToken, ProgressCallback

BACKOFF_FIRST_S = 30.0
BACKOFF_MAX_S = 3600.0

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
    UNIQUE (node, sop_instance_uid)
);
"""


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
    state: str  # pending | sent
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


class Outbox:
    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder else data_folder() / "outbox"
        (self.folder / "files").mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "outbox.sqlite"
        with self._db() as db:
            db.executescript(_SCHEMA)

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
                    ds.save_as(temporary, enforce_file_format=True)
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
        query = "SELECT * FROM items" + (" WHERE state = 'pending'" if pending_only else "") + " ORDER BY id"
        with self._db() as db:
            rows = db.execute(query).fetchall()
        return [
            OutboxItem(r["id"], PacsNode(**json.loads(r["node"])), r["sop_instance_uid"], r["sop_class_uid"], r["path"],
                       r["description"], r["state"], r["attempts"], r["last_error"], r["next_attempt"], r["created"],
                       r["sent"])
            for r in rows
        ]

    def pending_count(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM items WHERE state = 'pending'").fetchone()[0])

    def discard(self, item_id: int) -> None:
        """Remove one pending item (the user's decision; it will not be sent)."""
        with self._db() as db:
            row = db.execute("SELECT path FROM items WHERE id = ? AND state = 'pending'", (item_id,)).fetchone()
            if row is None:
                return
            db.execute("DELETE FROM items WHERE id = ?", (item_id,))
        self._remove_file_if_unused(row["path"])

    def _remove_file_if_unused(self, path: str) -> None:
        with self._db() as db:
            used = db.execute("SELECT COUNT(*) FROM items WHERE path = ? AND state = 'pending'", (path,)).fetchone()[0]
        if not used:
            Path(path).unlink(missing_ok=True)

    # --- sending ---

    def process(self, now: float | None = None, due_only: bool = True, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> SendSummary:
        """Send every pending item that is due (all pending ones with ``due_only=False``), node by node."""
        now = time.time() if now is None else now
        pending = [i for i in self.items(pending_only=True) if not due_only or i.next_attempt <= now]
        sent = failed = 0
        reasons: list[str] = []
        by_node: dict[PacsNode, list[OutboxItem]] = {}
        for item in pending:
            by_node.setdefault(item.node, []).append(item)
        for node, items in by_node.items():
            by_uid = {i.sop_instance_uid: i for i in items}
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
                    self._mark_failed(item, result.reason, now)

            try:
                store(node, [i.path for i in items], progress=progress, cancel=cancel, on_result=record)
            except (PacsError, OSError, pydicom.errors.InvalidDicomError) as error:
                # no association, or it broke off, or a queued file cannot be read: the rest stay queued
                reason = str(error) if isinstance(error, PacsError) else f"{node.label}: {error}"
                for uid, item in by_uid.items():
                    if uid not in handled:
                        failed += 1
                        self._mark_failed(item, reason, now)
                reasons.append(reason)
        return SendSummary(sent, failed, tuple(dict.fromkeys(reasons)))

    def _mark_sent(self, item: OutboxItem) -> None:
        with self._db() as db:
            db.execute("UPDATE items SET state = 'sent', sent = ?, last_error = '' WHERE id = ?", (time.time(), item.id))
        self._remove_file_if_unused(item.path)

    def _mark_failed(self, item: OutboxItem, reason: str, now: float) -> None:
        with self._db() as db:
            attempts = int(db.execute("SELECT attempts FROM items WHERE id = ?", (item.id,)).fetchone()[0]) + 1
            db.execute(
                "UPDATE items SET attempts = ?, last_error = ?, next_attempt = ? WHERE id = ?",
                (attempts, reason, now + backoff_s(attempts), item.id),
            )
