"""The local study database: Patient -> Study -> Series -> Instance in SQLite.

Files are referenced in place (their path), never copied. Each instance row keeps
the file's size and modification time, so re-importing unchanged files is a
lookup, not a re-read, and re-importing the same files is idempotent. A second
start of the app lists the studies from here without rescanning.

The default database lives in the user's data directory
(``$XDG_DATA_HOME/spine-injection-planner/studies.sqlite``); tests and the CLI's
``--db`` pass a path.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from planner.app_paths import data_folder
from planner.dicom.header import InstanceHeader, header_from_json, header_to_json
from planner.dicom.series_index import SeriesSummary, summarize, summary_from_json, summary_to_json
from planner.errors import DatabaseError

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS patients (
    patient_key INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL,
    patient_name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    sex TEXT NOT NULL,
    UNIQUE (patient_id, patient_name, birth_date)
);
CREATE TABLE IF NOT EXISTS studies (
    study_instance_uid TEXT PRIMARY KEY,
    patient_key INTEGER NOT NULL REFERENCES patients(patient_key),
    study_date TEXT NOT NULL,
    study_time TEXT NOT NULL,
    description TEXT NOT NULL,
    accession_number TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS series (
    series_instance_uid TEXT PRIMARY KEY,
    study_instance_uid TEXT NOT NULL REFERENCES studies(study_instance_uid),
    modality TEXT NOT NULL,
    description TEXT NOT NULL,
    series_number INTEGER,
    frame_of_reference_uid TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS instances (
    path TEXT PRIMARY KEY,
    sop_instance_uid TEXT NOT NULL,
    series_instance_uid TEXT NOT NULL REFERENCES series(series_instance_uid),
    file_size INTEGER NOT NULL,
    file_mtime_ns INTEGER NOT NULL,
    header_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_by_series ON instances(series_instance_uid);
CREATE INDEX IF NOT EXISTS instances_by_sop ON instances(sop_instance_uid);
CREATE TABLE IF NOT EXISTS thumbnails (
    series_instance_uid TEXT PRIMARY KEY,
    rows INTEGER NOT NULL,
    columns INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    pixels BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS series_summaries (
    series_instance_uid TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    summary_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    path TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    file_mtime_ns INTEGER NOT NULL
);
"""


def default_database_path() -> Path:
    """``$XDG_DATA_HOME/spine-injection-planner/studies.sqlite`` (``~/.local/share`` by default)."""
    return data_folder() / "studies.sqlite"


@dataclass(frozen=True)
class StudyRecord:
    study_instance_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    description: str
    n_series: int


class StudyDatabase:
    """SQLite index of imported files. Safe to use from one thread at a time per call (a lock serialises writes)."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else default_database_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.executescript(SCHEMA)
            self._check_version()
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"{self.path}: cannot open the study database: {exc}") from exc
        self._lock = threading.Lock()
        self._summaries: dict[str, tuple[str, SeriesSummary]] = {}  # by series: (its instances' state, summary)

    def _check_version(self) -> None:
        row = self._connection.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            with self._connection:
                self._connection.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise DatabaseError(
                f"{self.path}: schema version {row[0]} is not {SCHEMA_VERSION}; move the file away to start a new index"
            )

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> "StudyDatabase":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def add_instances(self, headers: Sequence[InstanceHeader]) -> None:
        """Insert or update instances (and their patient, study, series) in one transaction."""
        if not headers:
            return
        with self._lock, self._write() as db:
            patient_keys: dict[tuple, int] = {}
            for h in headers:
                key = (h.patient_id, h.patient_name, h.patient_birth_date)
                if key not in patient_keys:
                    db.execute(
                        "INSERT OR IGNORE INTO patients (patient_id, patient_name, birth_date, sex) VALUES (?,?,?,?)",
                        (*key, h.patient_sex),
                    )
                    patient_keys[key] = db.execute(
                        "SELECT patient_key FROM patients WHERE patient_id=? AND patient_name=? AND birth_date=?", key
                    ).fetchone()[0]
            # one row per study and series, as INSERT OR IGNORE keeps: the first header's (a batch is mostly
            # slices of one series, and 2,000 ignored inserts cost more than the instances' own)
            studies = {h.study_instance_uid: h for h in reversed(headers)}
            db.executemany(
                "INSERT OR IGNORE INTO studies VALUES (?,?,?,?,?,?)",
                [
                    (
                        h.study_instance_uid,
                        patient_keys[(h.patient_id, h.patient_name, h.patient_birth_date)],
                        h.study_date,
                        h.study_time,
                        h.study_description,
                        h.accession_number,
                    )
                    for h in studies.values()
                ],
            )
            series = {h.series_instance_uid: h for h in reversed(headers)}
            db.executemany(
                "INSERT OR IGNORE INTO series VALUES (?,?,?,?,?,?)",
                [
                    (
                        h.series_instance_uid,
                        h.study_instance_uid,
                        h.modality,
                        h.series_description,
                        h.series_number,
                        h.frame_of_reference_uid,
                    )
                    for h in series.values()
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO instances VALUES (?,?,?,?,?,?)",
                [
                    (h.path, h.sop_instance_uid, h.series_instance_uid, h.file_size, h.file_mtime_ns, json.dumps(header_to_json(h)))
                    for h in headers
                ],
            )
            if db.execute("SELECT 1 FROM rejected LIMIT 1").fetchone():  # a file refused before, readable now
                db.executemany("DELETE FROM rejected WHERE path=?", [(h.path,) for h in headers])

    def add_rejections(self, rejections: Iterable[tuple[str, str, int, int]]) -> None:
        """Record (path, reason, size, mtime_ns) of files that could not be indexed."""
        rows = list(rejections)
        if not rows:
            return
        with self._lock, self._write() as db:
            db.executemany("INSERT OR REPLACE INTO rejected VALUES (?,?,?,?)", rows)
            db.executemany("DELETE FROM instances WHERE path=?", [(r[0],) for r in rows])

    @contextlib.contextmanager
    def _write(self):
        """One transaction; SQLite errors (disk full, read-only file) become DatabaseError."""
        try:
            with self._connection as connection:
                yield connection
        except sqlite3.Error as exc:
            raise DatabaseError(f"{self.path}: cannot write the study database: {exc}") from exc

    # ------------------------------------------------------------------ reading

    def file_states(self) -> dict[str, tuple[int, int, str | None]]:
        """path -> (size, mtime_ns, rejection reason or None) for every known file."""
        states = {
            path: (size, mtime, None)
            for path, size, mtime in self._connection.execute("SELECT path, file_size, file_mtime_ns FROM instances")
        }
        for path, reason, size, mtime in self._connection.execute("SELECT path, reason, file_size, file_mtime_ns FROM rejected"):
            states[path] = (size, mtime, reason)
        return states

    def instances(self, series_instance_uid: str) -> list[InstanceHeader]:
        rows = self._connection.execute(
            "SELECT header_json FROM instances WHERE series_instance_uid=? ORDER BY path", (series_instance_uid,)
        ).fetchall()
        return [header_from_json(json.loads(r[0])) for r in rows]

    def series_of_paths(self, paths: Iterable[str]) -> set[str]:
        """SeriesInstanceUIDs of the indexed files among ``paths`` (one query per 500 paths)."""
        paths = list(paths)
        uids: set[str] = set()
        for start in range(0, len(paths), 500):
            chunk = paths[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._connection.execute(
                f"SELECT DISTINCT series_instance_uid FROM instances WHERE path IN ({marks})", chunk
            ).fetchall()
            uids.update(r[0] for r in rows)
        return uids

    def series_uids(
        self, study_instance_uid: str | None = None, modality: str | None = None, frame_of_reference_uid: str | None = None
    ) -> list[str]:
        """SeriesInstanceUIDs by series number, of one study, modality and frame of reference when given."""
        wanted = {"study_instance_uid": study_instance_uid, "modality": modality, "frame_of_reference_uid": frame_of_reference_uid}
        where = [(f"{column}=?", value) for column, value in wanted.items() if value is not None]
        sql = "SELECT series_instance_uid FROM series"
        if where:
            sql += " WHERE " + " AND ".join(clause for clause, _ in where)
        rows = self._connection.execute(sql + " ORDER BY series_number", [value for _, value in where]).fetchall()
        return [r[0] for r in rows]

    def series_summary(self, series_instance_uid: str) -> SeriesSummary | None:
        """The series' summary, kept (in memory and in the file) until its instances change, here or in another
        process: the browser lists a large database at start-up without parsing every instance's header,
        and its refresh after an import parses only the series that import touched."""
        count, mtimes, sizes = self._connection.execute(
            "SELECT COUNT(*), TOTAL(file_mtime_ns), TOTAL(file_size) FROM instances WHERE series_instance_uid=?",
            (series_instance_uid,),
        ).fetchone()
        if not count:
            return None
        state = f"{count} {mtimes!r} {sizes!r}"
        cached = self._summaries.get(series_instance_uid)
        if cached is not None and cached[0] == state:
            return cached[1]
        row = self._connection.execute(
            "SELECT summary_json FROM series_summaries WHERE series_instance_uid=? AND state=?", (series_instance_uid, state)
        ).fetchone()
        if row is not None:
            summary = summary_from_json(json.loads(row[0]))
        else:
            summary = summarize(self.instances(series_instance_uid))
            try:
                with self._lock, self._write() as db:
                    db.execute(
                        "INSERT OR REPLACE INTO series_summaries VALUES (?,?,?)",
                        (series_instance_uid, state, json.dumps(summary_to_json(summary))),
                    )
            except DatabaseError:
                pass  # a read-only database: the summary is computed again next time
        self._summaries[series_instance_uid] = (state, summary)
        return summary

    def studies(self) -> list[StudyRecord]:
        rows = self._connection.execute(
            """SELECT s.study_instance_uid, p.patient_id, p.patient_name, s.study_date, s.description,
                      (SELECT COUNT(*) FROM series r WHERE r.study_instance_uid = s.study_instance_uid
                         AND EXISTS (SELECT 1 FROM instances i WHERE i.series_instance_uid = r.series_instance_uid))
               FROM studies s JOIN patients p ON p.patient_key = s.patient_key
               ORDER BY s.study_date DESC, s.study_instance_uid"""
        ).fetchall()
        return [StudyRecord(*row) for row in rows if row[5] > 0]

    def rejected(self) -> list[tuple[str, str]]:
        return [tuple(r) for r in self._connection.execute("SELECT path, reason FROM rejected ORDER BY path")]

    def thumbnail(self, series_instance_uid: str) -> np.ndarray | None:
        """The stored preview of a series (uint8, rows x columns [x 3]) or None."""
        row = self._connection.execute(
            "SELECT rows, columns, samples, pixels FROM thumbnails WHERE series_instance_uid=?", (series_instance_uid,)
        ).fetchone()
        if row is None:
            return None
        rows, columns, samples, blob = row
        shape = (rows, columns) if samples == 1 else (rows, columns, samples)
        return np.frombuffer(blob, dtype=np.uint8).reshape(shape)

    def set_thumbnail(self, series_instance_uid: str, pixels: np.ndarray) -> None:
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        samples = 1 if pixels.ndim == 2 else pixels.shape[2]
        with self._lock, self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO thumbnails VALUES (?,?,?,?,?)",
                (series_instance_uid, pixels.shape[0], pixels.shape[1], samples, pixels.tobytes()),
            )

    def count_instances(self, series_instance_uid: str | None = None) -> int:
        """Indexed instances, of one series or of all."""
        if series_instance_uid is None:
            return self._connection.execute("SELECT COUNT(*) FROM instances").fetchone()[0]
        return self._connection.execute(
            "SELECT COUNT(*) FROM instances WHERE series_instance_uid=?", (series_instance_uid,)
        ).fetchone()[0]
