"""`TrainingStore`: upload sets and training jobs, two tables beside the result store's in the data
dir's SQLite database (WAL), so that a training outlives the server that ran it.

A training's row is written when it is accepted (before the 202), when it starts, at every stage
and epoch, and when it ends; `server` is the owner id (files.Owner) of the process running it, so
a restarted server can tell a dead server's trainings from a live one's. `owner` is the person a
row belongs to (people.Person.name; None: a row from before people, the laptop's own person's).
Writes are few (a training writes a row per epoch): each is its own short transaction.
"""
import json
import sqlite3
import threading
import time
from pathlib import Path

from .sqlite import DB_NAME, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, owner TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS trainings (
    id TEXT PRIMARY KEY, owner TEXT, upload TEXT NOT NULL, model TEXT NOT NULL, base TEXT NOT NULL,
    settings TEXT NOT NULL, status TEXT NOT NULL, stage TEXT, progress TEXT, error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, server TEXT, created REAL NOT NULL, finished REAL);
"""
FIELDS = ("id", "owner", "upload", "model", "base", "settings", "status", "stage", "progress", "error", "attempts",
          "server", "created", "finished")


class TrainingStore:
    def __init__(self, data_dir: Path, busy_timeout_s: float = 10.0):
        self.path = Path(data_dir) / DB_NAME
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)   # a Ray front end's: nothing else made it
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._db:
                self._db.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"the training records in {self.path} cannot be used: {e}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _run(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        try:
            with self._lock, self._db:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"the training records in {self.path} could not be written: {e}") from None

    # ---- uploads ------------------------------------------------------------------------------

    def add_upload(self, upload_id: str, owner: str | None = None) -> None:
        self._run("INSERT INTO uploads (id, owner, created) VALUES (?, ?, ?)", (upload_id, owner, time.time()))

    def upload(self, upload_id: str) -> dict | None:
        rows = self._run("SELECT * FROM uploads WHERE id = ?", (upload_id,))
        return dict(rows[0]) if rows else None

    def delete_upload(self, upload_id: str) -> None:
        self._run("DELETE FROM uploads WHERE id = ?", (upload_id,))

    # ---- trainings ----------------------------------------------------------------------------

    def save(self, row: dict) -> None:
        """Insert or replace a training's row (`settings` and `progress` as dicts)."""
        values = {**row, "settings": json.dumps(row["settings"]), "progress": json.dumps(row.get("progress"))}
        self._run(f"INSERT OR REPLACE INTO trainings ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})",
                  tuple(values.get(f) for f in FIELDS))

    def training(self, training_id: str) -> dict | None:
        rows = self._run("SELECT * FROM trainings WHERE id = ?", (training_id,))
        return _row(rows[0]) if rows else None

    def model_owners(self) -> dict[str, str | None]:
        """Whose each model made by a training is: {model id: owner} (the latest done training of the id)."""
        rows = self._run("SELECT model, owner FROM trainings WHERE status = 'done' ORDER BY finished")
        return {row["model"]: row["owner"] for row in rows}

    def unfinished(self) -> list[dict]:
        """Queued and running trainings, oldest first."""
        rows = self._run("SELECT * FROM trainings WHERE status IN ('queued', 'running') ORDER BY created")
        return [_row(r) for r in rows]


def _row(row: sqlite3.Row) -> dict:
    out = dict(row)
    out["settings"] = json.loads(out["settings"])
    out["progress"] = json.loads(out["progress"]) if out["progress"] else None
    return out
