"""`ResultStore`: jobs and results indexed in SQLite (WAL), each result's PNG a file (files.py).

A job is written when it is accepted (its recipe as JSON and its input tensors), again when a
worker takes it (status, attempts, owner) and when it ends; a done job's PNGs are written first,
then its result rows and its status in one transaction, so a crash leaves a job either done with
every PNG indexed or still to run. Every write goes through one thread (`_Writer`) that
commits all the writes waiting at that moment in one transaction (group commit): under load, one
commit serves many jobs, and no worker or request thread touches the database but to read (one
reading connection, under a lock). Several processes share one database file through SQLite's
locking (WAL: readers never wait for the writer; writers wait up to `busy_timeout_s` for each
other). A job's acceptance and a result wait for their commit; the other writes (a job started,
queued again, ended) do not, and a failure of those is logged.
Commits are `synchronous=NORMAL`: they survive the process being killed, not a power cut.
"""
import base64
import errno
import json
import queue
import secrets
import sqlite3
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Protocol

from ..logs import log
from . import files, people

DB_NAME = "robust-canvas.db"
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, task TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL,
    step INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL, recipe TEXT NOT NULL, inputs BLOB,
    attempts INTEGER NOT NULL DEFAULT 0, owner TEXT, error TEXT, result TEXT,
    created REAL NOT NULL, finished REAL, person TEXT NOT NULL DEFAULT 'local');
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs(status) WHERE status IN ('queued', 'running');
CREATE TABLE IF NOT EXISTS results (
    id TEXT PRIMARY KEY, job_id TEXT NOT NULL, idx INTEGER NOT NULL, task TEXT NOT NULL, model TEXT NOT NULL,
    class TEXT NOT NULL, seed INTEGER NOT NULL, created REAL NOT NULL, width INTEGER NOT NULL,
    height INTEGER NOT NULL, bytes INTEGER NOT NULL, score REAL, path TEXT NOT NULL,
    person TEXT NOT NULL DEFAULT 'local', public INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS results_newest ON results(created DESC, id DESC);
CREATE TABLE IF NOT EXISTS people (
    name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, admin INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
"""
# Columns added since the first schema (issue 28: whose a job or result is, and whether it is shared):
# a database made before gets them, its rows owned by the laptop's own person (people.LOCAL).
MIGRATIONS = {"jobs": ("person TEXT NOT NULL DEFAULT 'local'",),
              "results": ("person TEXT NOT NULL DEFAULT 'local'", "public INTEGER NOT NULL DEFAULT 0")}
INDEXES = "CREATE INDEX IF NOT EXISTS results_person ON results(person, created DESC, id DESC);"


class JobFields(Protocol):
    """What the store reads of a job (jobs/record.py's `Job` has these): the store knows no job class."""
    id: str
    task: str
    model: str
    status: str
    step: int
    total: int
    recipe: dict            # as JSON
    attempts: int
    error: str | None
    person: str             # whose job it is (people.Person.name)


class StoreError(OSError):
    """The store cannot be opened, or cannot record something; the message says what and where."""


class ResultStore:
    """The data dir's database and outputs. `retain_*`: 0 keeps everything (see `prune`)."""

    def __init__(self, data_dir: Path, *, retain_count: int = 0, retain_days: float = 0, retain_bytes: int = 0,
                 busy_timeout_s: float = 10.0):
        self.data_dir = Path(data_dir)
        self.retain = (retain_count, retain_days, retain_bytes)
        files.check_writable(self.data_dir)
        self.path = self.data_dir / DB_NAME
        self._lock = threading.Lock()
        self._db = _connect(self.path, busy_timeout_s)
        self._writer = _Writer(self.path, busy_timeout_s)

    def close(self) -> None:
        """After the writes made so far."""
        self._writer.close()
        with self._lock:
            self._db.close()

    # ---- jobs ---------------------------------------------------------------------------------

    def accept(self, job: JobFields, inputs: bytes, owner: str | None) -> None:
        """Record a job before its 202 (StoreError when it cannot be recorded)."""
        self._write("INSERT OR IGNORE INTO jobs (id, task, model, status, total, recipe, inputs, attempts, owner, "
                    "created, person) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (job.id, job.task, job.model, job.status, job.total, json.dumps(job.recipe), inputs, job.attempts,
                     owner, time.time(), job.person))

    def forget(self, job_id: str) -> None:
        """A job recorded and then refused (the queue was full)."""
        self._write("DELETE FROM jobs WHERE id = ? AND status = 'queued'", (job_id,))

    def started(self, jobs: list[JobFields], owner: str | None = None) -> None:
        """Jobs taken by a worker: their attempt is counted before it runs."""
        self._write_many("UPDATE jobs SET status = 'running', attempts = ?, owner = COALESCE(?, owner) WHERE id = ? "
                         "AND status IN ('queued', 'running')", [(job.attempts, owner, job.id) for job in jobs],
                         wait=False)

    def requeued(self, job: JobFields) -> None:
        self._write("UPDATE jobs SET status = 'queued', step = 0 WHERE id = ? AND status = 'running'", (job.id,),
                    wait=False)

    def ended(self, job: JobFields) -> None:
        """A job failed or was cancelled (a done one is recorded by `save_result`)."""
        self._write("UPDATE jobs SET status = ?, step = ?, error = ?, finished = ? WHERE id = ? AND status IN "
                    "('queued', 'running')", (job.status, job.step, job.error, time.time(), job.id), wait=False)

    def claim(self, owner: str, alive) -> list[dict]:
        """The open jobs whose owner is not `alive(owner)` (a process that died), now this owner's:
        [{id, task, model, status, total, recipe, inputs, attempts, person}], oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT id, task, model, status, total, recipe, inputs, attempts, owner, person "
                                    "FROM jobs "
                                    "WHERE status IN ('queued', 'running') ORDER BY created").fetchall()
        orphans = [row for row in rows if row["owner"] is None or not alive(row["owner"])]
        self._write_many("UPDATE jobs SET owner = ? WHERE id = ?", [(owner, row["id"]) for row in orphans])
        return [{**dict(row), "recipe": json.loads(row["recipe"])} for row in orphans]

    def claim_all(self, owner: str) -> list[dict]:
        """Every open job of `owner` (the Ray job store, restarted)."""
        return self.claim(owner, lambda other: other != owner)

    def job(self, job_id: str) -> dict | None:
        """The job as recorded, its result's images read back from their PNGs: the fields of a `Job`
        (id, task, model, total, recipe, status, step, result, error, attempts)."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            pngs = self._db.execute("SELECT path FROM results WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
        if row is None:
            return None
        result = json.loads(row["result"]) if row["result"] else None
        if result is not None:
            data = [files.read_png(self.data_dir, p["path"]) for p in pngs]
            result["images"] = ["data:image/png;base64," + base64.b64encode(d).decode() for d in data if d]
        return {"task": row["task"], "model": row["model"], "total": row["total"], "recipe": json.loads(row["recipe"]),
                "id": row["id"], "status": row["status"], "step": row["step"], "result": result, "error": row["error"],
                "attempts": row["attempts"], "person": row["person"]}

    # ---- results ------------------------------------------------------------------------------

    def save_result(self, job: JobFields, result: dict, steps_done: int) -> None:
        """Write a done job's PNGs, then index them and mark the job done, in one transaction.
        StoreError says why when it fails (a full disk: ENOSPC), and nothing is indexed."""
        now, recipe = time.time(), job.recipe
        rows = []
        try:
            for i, url in enumerate(result["images"]):
                data = base64.b64decode(url.partition(",")[2])
                rid = f"{job.id}-{i}"
                path = files.write_png(self.data_dir, now, rid, data)
                rows.append((rid, job.id, i, job.task, job.model, result["class_names"][i], int(recipe.get("seed", 0)),
                             now, result["width"], result["height"], len(data), result["scores"][i], path, job.person))
        except OSError as e:
            for row in rows:
                files.remove_png(self.data_dir, row[-1])
            full = " (the disk is full)" if e.errno == errno.ENOSPC else ""
            error = StoreError(f"the result could not be saved in {self.data_dir}{full}: {e.strerror or e}")
            error.errno = e.errno
            raise error from None
        summary = json.dumps({k: v for k, v in result.items() if k != "images"})
        self._writer.write([("INSERT OR REPLACE INTO results (id, job_id, idx, task, model, class, seed, created, "
                             "width, height, bytes, score, path, person) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows),
                            ("UPDATE jobs SET status = 'done', step = ?, result = ?, finished = ?, inputs = NULL "
                             "WHERE id = ?", [(steps_done, summary, now, job.id)])]).result()
        if any(self.retain):
            self.prune()

    def results(self, limit: int, cursor: tuple[float, str] | None = None, *, task: str | None = None,
                model: str | None = None, class_: str | None = None, person: str | None = None) -> list[dict]:
        """Newest first, after `cursor` (created, id); filters (None: any): task, model, class (any case),
        person (whose they are)."""
        where, args = [], []
        for sql, value in (("task = ?", task), ("model = ?", model), ("class = ? COLLATE NOCASE", class_),
                           ("person = ?", person)):
            if value is not None:
                where.append(sql)
                args.append(value)
        if cursor:
            where.append("(created < ? OR (created = ? AND id < ?))")
            args += [cursor[0], cursor[0], cursor[1]]
        sql = ("SELECT * FROM results" + (" WHERE " + " AND ".join(where) if where else "") +
               " ORDER BY created DESC, id DESC LIMIT ?")
        with self._lock:
            return [dict(row) for row in self._db.execute(sql, (*args, limit)).fetchall()]

    def result(self, result_id: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT r.*, j.recipe FROM results r LEFT JOIN jobs j ON j.id = r.job_id "
                                   "WHERE r.id = ?", (result_id,)).fetchone()
        if row is None:
            return None
        return {**dict(row), "recipe": json.loads(row["recipe"]) if row["recipe"] else None}

    def png(self, result_id: str) -> bytes | None:
        row = self.result(result_id)
        return files.read_png(self.data_dir, row["path"]) if row else None

    def share(self, result_id: str, public: bool) -> None:
        """Make a result public (anyone on the server may open it by its id) or private again."""
        self._write("UPDATE results SET public = ? WHERE id = ?", (int(public), result_id))

    def delete(self, result_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT path FROM results WHERE id = ?", (result_id,)).fetchone()
        if row:
            self._write("DELETE FROM results WHERE id = ?", (result_id,))
            files.remove_png(self.data_dir, row["path"])
        return row is not None

    def prune(self) -> int:
        """Delete the oldest results beyond `retain_count`, older than `retain_days`, or beyond
        `retain_bytes` in all; returns how many. Each limit is one indexed query (the byte limit
        scans only when the total is over it)."""
        count, days, max_bytes = self.retain
        doomed = {}
        with self._lock:
            if count:
                doomed.update(self._db.execute("SELECT id, path FROM results ORDER BY created DESC, id DESC "
                                               "LIMIT -1 OFFSET ?", (count,)).fetchall())
            if days:
                doomed.update(self._db.execute("SELECT id, path FROM results WHERE created < ?",
                                               (time.time() - days * 86400,)).fetchall())
            if max_bytes and self._db.execute("SELECT COALESCE(SUM(bytes), 0) FROM results").fetchone()[0] > max_bytes:
                doomed.update(self._db.execute(
                    "SELECT id, path FROM (SELECT id, path, SUM(bytes) OVER (ORDER BY created DESC, id DESC) AS total "
                    "FROM results) WHERE total > ?", (max_bytes,)).fetchall())
        if doomed:
            self._write_many("DELETE FROM results WHERE id = ?", [(result_id,) for result_id in doomed])
            for path in doomed.values():
                files.remove_png(self.data_dir, path)
        return len(doomed)

    # ---- people (people.py) --------------------------------------------------------------------

    def add_person(self, name: str, admin: bool = False) -> str:
        """A new person; their token, which only they will know (the store keeps its hash).
        ValueError when the name is taken or not a name."""
        token = people.new_token()
        try:
            self._write("INSERT INTO people (name, token_hash, admin, created) VALUES (?, ?, ?, ?)",
                        (people.check_name(name), people.token_hash(token), int(admin), time.time()))
        except StoreError as e:
            if "UNIQUE" in str(e):
                raise ValueError(f"there is already a person named {name!r}: `users remove {name}` first") from None
            raise
        return token

    def remove_person(self, name: str) -> bool:
        """Revoke a person's token (their next request is refused); what they made stays, an admin's to
        see. False when there is nobody of that name."""
        with self._lock:
            found = self._db.execute("SELECT 1 FROM people WHERE name = ?", (name,)).fetchone()
        self._write("DELETE FROM people WHERE name = ?", (name,))
        return found is not None

    def list_people(self) -> list[dict]:
        """[{name, admin, created}], by name."""
        with self._lock:
            return [dict(row) for row in self._db.execute("SELECT name, admin, created FROM people ORDER BY name")]

    def has_people(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT EXISTS (SELECT 1 FROM people)").fetchone()[0] == 1

    def person(self, token: str) -> people.Person | None:
        """Whose token this is, read now (a person removed a moment ago is nobody), or None."""
        with self._lock:
            row = self._db.execute("SELECT name, admin FROM people WHERE token_hash = ?",
                                   (people.token_hash(token),)).fetchone()
        return people.Person(row["name"], bool(row["admin"])) if row else None

    def secret(self, name: str) -> bytes:
        """A random key of this data dir, made at its first use (shared by every server on the data dir)."""
        self._write("INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", (name, secrets.token_bytes(32)))
        with self._lock:
            return self._db.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()[0]

    # ---- plumbing -----------------------------------------------------------------------------

    def flush(self) -> None:
        """Until every write made so far is committed."""
        self._writer.write([]).result()

    def _write(self, sql: str, args: tuple, wait: bool = True) -> None:
        self._write_many(sql, [args], wait)

    def _write_many(self, sql: str, rows: list, wait: bool = True) -> None:
        """Through the writer; `wait`: until committed (StoreError when it could not be)."""
        if rows:
            done = self._writer.write([(sql, rows)])
            if wait:
                done.result()


class _Writer:
    """The one thread that writes: it commits every write waiting at that moment in one transaction.
    A transaction that fails is replayed one write at a time, so that only the failing one fails."""

    def __init__(self, path: Path, busy_timeout_s: float):
        self.path = path
        self.db = sqlite3.connect(path, timeout=busy_timeout_s, check_same_thread=False)
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.waiting: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self.thread.start()

    def write(self, statements: list[tuple[str, list]]) -> Future:
        """Queue (sql, rows) statements to commit together; the future ends when they are committed."""
        done = Future()
        self.waiting.put((statements, done))
        return done

    def close(self) -> None:
        self.waiting.put(None)
        self.thread.join()
        self.db.close()

    def _run(self) -> None:
        while (first := self.waiting.get()) is not None:
            batch, stop = [first], False
            while len(batch) < 512:
                try:
                    item = self.waiting.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list) -> None:
        try:
            with self.db:
                for statements, _ in batch:
                    for sql, rows in statements:
                        self.db.executemany(sql, rows)
        except sqlite3.Error as e:
            if len(batch) > 1:
                for item in batch:
                    self._commit([item])
                return
            error = StoreError(f"the result store {self.path} could not record the job: {e}")
            log("store_error", error=str(error))
            batch[0][1].set_exception(error)
            return
        for _, done in batch:
            done.set_result(None)


def _migrate(db: sqlite3.Connection) -> None:
    """Add the columns a database made by an earlier version lacks (MIGRATIONS), in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    for table, columns in MIGRATIONS.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for column in columns:
            if column.split()[0] not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
    db.execute(INDEXES)
    db.execute("COMMIT")


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """Open (or create) the database in WAL mode; StoreError naming the file when it is corrupt,
    locked by another program, or not a database."""
    try:
        db = sqlite3.connect(path, timeout=busy_timeout_s, check_same_thread=False)
        db.row_factory = sqlite3.Row
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise sqlite3.OperationalError(f"WAL mode refused (journal_mode is {mode})")
        db.execute("PRAGMA synchronous=NORMAL")
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check: {check}")
        with db:
            db.executescript(SCHEMA)
        _migrate(db)
        db.execute("BEGIN IMMEDIATE")   # the write lock, once: a database another program holds fails now
        db.execute("COMMIT")
    except sqlite3.Error as e:
        if "locked" in str(e):
            what = "locked by another program: stop it"
        else:
            what = "not a usable SQLite database (corrupt?): move it away"
        raise StoreError(f"the result store {path} is {what}, or pass another --data-dir (or --no-store) "
                         f"[sqlite: {e}]") from None
    return db

