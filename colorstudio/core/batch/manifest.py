"""The batch manifest (SQLite in OUTPUT_DIR) and the lock that keeps one batch per folder.

One row per photo, keyed by its path relative to SOURCE_DIR, written as each photo finishes
(WAL journal, one transaction per row): a SIGKILL loses at most the photos in flight, whose
rows say ``running``. The lock is an advisory ``flock`` on a file beside the manifest; the
kernel drops it when the process dies, however it dies.
"""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Iterator, Optional

from .plan import LOCK_NAME, MANIFEST_NAME, BatchError

SCHEMA_VERSION = 1

#: The manifest's columns, in order (also the CSV report's).
COLUMNS = ("source", "size", "mtime_ns", "sha256", "settings_hash", "mode", "engine", "models",
           "document", "output", "output_sha256", "output_size", "status", "error",
           "seconds_read", "seconds_colorize", "seconds_write", "finished_at")
STATUSES = ("done", "failed", "skipped", "running")

_CREATE = f"""
CREATE TABLE IF NOT EXISTS photos (
    source TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT, settings_hash TEXT,
    mode TEXT, engine TEXT, models TEXT, document TEXT, output TEXT, output_sha256 TEXT,
    output_size INTEGER, status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    error TEXT, seconds_read REAL, seconds_colorize REAL, seconds_write REAL, finished_at TEXT);
CREATE TABLE IF NOT EXISTS batch (key TEXT PRIMARY KEY, value TEXT);
"""


class Manifest:
    """The manifest of one OUTPUT_DIR. Use from one thread (the batch's coordinator)."""

    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        try:
            if readonly:
                # immutable: no -wal/-shm files appear beside it (a dry run writes nothing)
                self.db = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True)
            else:
                self.db = sqlite3.connect(self.path, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process kill
                self.db.executescript(_CREATE)
            self.db.row_factory = sqlite3.Row
            if readonly:
                self.db.execute("SELECT 1 FROM photos LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise BatchError(f"the batch manifest {self.path} cannot be read ({exc}); move it away to start afresh") from None

    @classmethod
    def open(cls, output_dir: Path, *, readonly: bool = False) -> Optional["Manifest"]:
        path = Path(output_dir) / MANIFEST_NAME
        if readonly and not path.exists():
            return None
        return cls(path, readonly=readonly)

    def close(self) -> None:
        self.db.close()

    # -- the batch's identity ---------------------------------------------------------------
    def meta(self, key: str) -> Optional[str]:
        row = self.db.execute("SELECT value FROM batch WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def claim(self, source_dir: Path) -> None:
        """Record which SOURCE_DIR this OUTPUT_DIR mirrors; refuse another one's."""
        known = self.meta("source_dir")
        if known is not None and Path(known) != Path(source_dir):
            raise BatchError(f"{self.path.parent} holds the results of another source folder ({known}); "
                             "choose another output folder")
        if known is None and not self.readonly:
            self.db.execute("INSERT OR REPLACE INTO batch VALUES ('source_dir', ?)", (str(source_dir),))
            self.db.execute("INSERT OR REPLACE INTO batch VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    # -- rows ---------------------------------------------------------------------------------
    def get(self, source: str) -> Optional[dict]:
        row = self.db.execute("SELECT * FROM photos WHERE source = ?", (source,)).fetchone()
        return dict(row) if row else None

    def put(self, record: dict) -> None:
        """Insert or replace one photo's row (committed at once)."""
        values = [record.get(c) for c in COLUMNS]
        if isinstance(values[COLUMNS.index("models")], (dict, list)):
            values[COLUMNS.index("models")] = json.dumps(values[COLUMNS.index("models")], sort_keys=True)
        self.db.execute(f"INSERT OR REPLACE INTO photos ({', '.join(COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(COLUMNS))})", values)

    def mark_running(self, source: str, output: str) -> None:
        """Claim ``output`` for a photo before any file appears under that name, so that a run
        after a kill knows the file is ours to replace. A new photo's row says ``running``; an
        known photo's status is left as it is (a kill then costs no finished photo)."""
        self.db.execute("INSERT INTO photos (source, output, status) VALUES (?, ?, 'running') "
                        "ON CONFLICT(source) DO UPDATE SET output = excluded.output",
                        (source, output))

    def rows(self) -> Iterator[dict]:
        for row in self.db.execute("SELECT * FROM photos ORDER BY source"):
            yield dict(row)

    def counts(self) -> dict[str, int]:
        return {s: n for s, n in self.db.execute("SELECT status, COUNT(*) FROM photos GROUP BY status")}

    def failed_sources(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT source FROM photos WHERE status = 'failed'")}


class BatchLock:
    """An exclusive lock on OUTPUT_DIR; a second batch there refuses with a sentence."""

    def __init__(self, output_dir: Path):
        self.path = Path(output_dir) / LOCK_NAME
        self._fh = None

    def __enter__(self) -> "BatchLock":
        fh = open(self.path, "a+")
        try:
            _lock(fh)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            who = f" (process {holder})" if holder.isdigit() else ""
            raise BatchError(f"another batch is writing to {self.path.parent}{who}; wait for it to finish "
                             "or choose another output folder") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc) -> None:
        if self._fh is not None:
            self._fh.close()  # closing drops the lock
            self._fh = None


def _lock(fh) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
