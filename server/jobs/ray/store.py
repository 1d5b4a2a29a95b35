"""The Ray job store: one named async actor holding every job and the queue (see manager.py).

Front ends submit, read, wait for and cancel jobs through it; model workers pull batches from
it and report steps, previews and results to it; it starts the workers, watches them, and
queues a dead worker's jobs again, once. The job rules are `rules.JobTable`'s, as in the
embedded manager.

Its state outlives it: with a result store (`settings.store`), the actor records every job in the
SQLite database of `settings.data_dir` on its node (store/sqlite.py), as the embedded manager does,
and saves the results there. The actor is created with `max_restarts`: when it dies (killed, out of
memory) Ray starts it again on the same node, its workers (which die with it) are started again,
and it reloads the open jobs from the database (`_reload`): the queued ones wait again, a running
one runs once more (its attempt counted, as for a dead worker). Front ends' calls made meanwhile
wait for the new actor (`max_task_retries`), so no accepted job is lost and clients see no error.
The history (`history`) is read through the actor, so a front end on any node serves it.

No process holds the weights for the others: a served model's card is a file name, and each worker
loads the weights from the file on its own node; the cards travel by value, in the store's creation
arguments (which Ray keeps for its restarts) and in each worker's. Models given in memory (tests, a
Python caller) are the exception: the front end that created the store holds them for its restarts.

Models made at run time (a person's trainings) are added by the front end that made them
(`add_model`: the card and a reference to its files, for nodes without them) and removed when
deleted (`remove_model`); each worker hears of them in its next `take`, before any batch of theirs.
A restarted store has only its creation's models: the jobs it reloads for another model wait
(a queue of their own) until a front end adds it again, which one does at its next job for it
(`submit` answers UNKNOWN_MODEL), and fail after `job_timeout_s` otherwise.

Nothing spins: a worker that dies before it takes its first batch (it could not load its models,
say) is started again after a growing pause (`_backoff`), and `health` says why. Jobs never wait
without an end: while no worker is up, a queued job fails after `job_timeout_s` saying so.
"""
import asyncio
import logging
import os
import time
from collections import deque

import ray

from ...logs import log
from ...settings import Settings
from ...store.sqlite import ResultStore, StoreError
from ...synthesis import tasks
from ...synthesis.recipes import Recipe, pack_inputs, unpack_inputs
from ..manager import Solver
from ..record import Job, images_of
from ..rules import ATTEMPTS, MAX_NESTED, JobTable, QueueFull
from .worker import ModelWorker

STORE_NAME = "job-store"
LONG_POLL_S = 1.0      # a call waiting for work (a worker) or for a job's end (a front end) returns after this
MAX_BACKOFF_S = 60.0   # the longest pause before starting again a worker that died while starting
# What front ends may read or delete of the history through the store (`history`).
HISTORY = ("results", "result", "png", "job", "delete", "share", "person", "has_people", "secret")
UNKNOWN_MODEL = "unknown model"   # `submit`'s answer for a job of a model this store does not serve
WAITING = "waiting for model "   # + a model id: the queue of reloaded jobs whose model is not served yet


@ray.remote(num_cpus=0)
class JobStore:
    """Every job and the queue; async, so a worker waiting for work blocks nobody."""

    def __init__(self, settings: Settings, cards: dict, in_memory: list, files: dict, workers: int,
                 worker_options: dict, device: str, owner: str, solver: Solver):
        """`cards`: id -> a card (`loading.Card`: each worker loads its file); `in_memory`: [a reference
        to {id: a model}, or None]; `files`: id -> a reference to the files of a person's model (in the
        front end's data dir), for the nodes without them."""
        logging.basicConfig(level=logging.INFO, format="%(message)s")   # job events, in Ray's logs of this actor
        self.settings, self.owner, self.solver = settings, owner, solver
        self.models = {**cards, **(ray.get(in_memory[0]) if in_memory[0] else {})}
        self.files: dict[str, object] = dict(files)   # a person's model -> a reference to its files
        self.known: dict[str, dict] = {}       # worker -> the models it has been given (id -> card)
        self.wanted, self.worker_options, self.device = workers, worker_options, device
        self.db = ResultStore(settings.data_dir, retain_count=settings.retain_count, retain_days=settings.retain_days,
                              retain_bytes=settings.retain_bytes) if settings.store else None
        self.db_owner = f"ray:{settings.ray_namespace}"   # the jobs this store (and its restarts) runs
        self.table = JobTable(settings, on_end=self._ended, journal=self.db)
        self.recipes: dict[str, Recipe] = {}   # a queued or running job's recipe, with its input tensors
        self.workers: dict[str, object] = {}   # name -> handle, while alive
        self.ready: set[str] = set()           # the live workers that have asked for work (their models loaded)
        self.ready_pids: dict[str, int] = {}   # their process ids
        self.failures, self.start_error = 0, None   # workers in a row that died starting, and the last one's why
        self.retry_at: float | None = None     # when the next worker starts, after such deaths
        self.idle_since = time.monotonic()     # since when no worker is ready (None: one is)
        self.watches: set[asyncio.Task] = set()
        self.watchdog: asyncio.Task | None = None   # stalled workers, jobs nothing can run (`_watchdog`)
        self.count, self.stopping = 0, False
        self.changed, self.ended = asyncio.Event(), asyncio.Event()   # pulsed: a job was queued / ended
        self.born = time.monotonic()
        # Restarted by Ray after a death: nobody calls `start`; the first call starts the workers again.
        self.revive = ray.get_runtime_context().was_current_actor_reconstructed
        if self.db:
            self._reload(self.models)

    async def start(self, owner: str) -> str:
        """Start the workers, once: returns the owner (the front end that created the store)."""
        if owner == self.owner and not self.workers:
            self._start_workers()
        return self.owner

    def _start_workers(self) -> None:
        self.revive = False
        for _ in range(self.wanted):
            self._start_worker()
        self.watchdog = asyncio.get_running_loop().create_task(self._watchdog())

    def _reload(self, models: dict) -> None:
        """The open jobs of this store's earlier lives, from the database: queued again (a job
        that was running on its last attempt fails)."""
        for row in self.db.claim_all(self.db_owner):
            job = Job(task=row["task"], model=row["model"], total=row["total"], key=(), recipe=row["recipe"],
                      id=row["id"], attempts=row["attempts"], person=row["person"])
            try:
                if row["status"] == "running" and job.attempts >= ATTEMPTS:
                    raise RuntimeError(f"its run was cut short on each of its {ATTEMPTS} attempts")
                recipe = Recipe.from_json(row["recipe"], unpack_inputs(row["inputs"]) if row["inputs"] else {})
                if job.model in models:   # else a model made at run time: it waits to be added again
                    job.key = (job.task, job.model, tasks.batch_key(models[job.model], recipe))   # a card will do
                job.images = images_of(recipe)
            except Exception as e:  # noqa: BLE001 -- one bad record must not stop the store
                job.status, job.error = "failed", f"the job could not run again after a restart: {e}"
                self.db.ended(job)
                continue
            self.table.add(job, queue="" if job.model in models else WAITING + job.model, limit=False)
            self.recipes[job.id] = recipe
            log("job_recovered", id=job.id, task=job.task, model=job.model, attempts=job.attempts)
        self.db.flush()

    def _alive(self) -> None:
        """After a restart: the workers, at the first call."""
        if self.revive and not self.stopping:
            self._start_workers()

    async def shutdown(self) -> None:
        self.stopping = True
        _pulse(self.changed)
        for handle in self.workers.values():
            ray.kill(handle)

    # ---- front ends ---------------------------------------------------------------------------

    async def submit(self, job: Job, recipe: Recipe) -> int | str | None:
        """Queue a job (recorded first); the Retry-After seconds instead when the queue is full, or
        UNKNOWN_MODEL for a model it does not serve (made at run time, before a restart: the front end
        adds it again). Idempotent: a call that Ray retries after a restart finds its job there."""
        self._alive()
        if job.id in self.table.jobs or (self.db and self.db.job(job.id)):
            return None
        if job.model not in self.models:
            return UNKNOWN_MODEL
        try:
            self.table.check_room(job.person)
        except QueueFull as e:
            return e.retry_after
        job.created = time.monotonic()   # this process's clock: the watchdog compares with it
        if self.db:   # StoreError reaches the front end (503)
            await asyncio.to_thread(self.db.accept, job, pack_inputs(recipe), self.db_owner)
        try:
            self.table.add(job)
        except QueueFull as e:
            if self.db:
                self.db.forget(job.id)
            return e.retry_after
        self.recipes[job.id] = recipe
        _pulse(self.changed)
        return None

    async def get(self, job_id: str) -> Job | None:
        self._alive()
        return self.table.get(job_id)

    async def add_model(self, model_id: str, card, files: list) -> None:
        """Serve a model made at run time: `card` (its `source`, the weights' path where it was made)
        and [a reference to its files (`files.model_files`), for a node without that path]. Every
        worker loads it at its next `take`, before a batch of it; later workers are created with it.
        Its jobs reloaded after a restart queue now."""
        self._alive()
        self.models[model_id], self.files[model_id] = card, files[0]
        waiting = self.table.queues.pop(WAITING + model_id, None) or []
        for job in waiting:
            recipe = self.recipes[job.id]
            job.key = (job.task, job.model, tasks.batch_key(card, recipe))
            self.table.queues.setdefault("", deque()).append(job)
        log("model_added", model=model_id, workers=len(self.workers), waiting=len(waiting))
        _pulse(self.changed)

    async def remove_model(self, model_id: str) -> None:
        """A model made at run time, deleted: no worker serves it from its next `take`; its queued jobs
        fail (its running ones finish)."""
        self.models.pop(model_id, None)
        self.files.pop(model_id, None)
        for job in [j for j in self.table.jobs.values() if j.status == "queued" and j.model == model_id]:
            self.table.fail_queued(job, f"the job failed: its model {model_id!r} was deleted")
        log("model_removed", model=model_id)
        _pulse(self.changed)

    async def cancel(self, job_id: str) -> Job | None:
        """A queued job is cancelled now; a running one at its next optimizer step."""
        return self.table.cancel(job_id)

    async def wait(self, job_id: str) -> Job | None:
        """The job once it has ended, or as it is after LONG_POLL_S."""
        self._alive()
        deadline = time.monotonic() + LONG_POLL_S
        while (job := self.table.get(job_id)) and not job.terminal and time.monotonic() < deadline:
            await _until(self.ended, deadline)
        return self.table.get(job_id)

    async def counts(self) -> tuple[int, int]:
        self._alive()
        return self.table.queued(), len(self.table.running())

    async def stats(self) -> dict:
        """Batches solved and the jobs in them, since the start."""
        return dict(self.table.solved)

    async def health(self) -> dict:
        """Its jobs and processes: queue, running, this actor's pid, the workers started in its life, and
        the workers: wanted, the names and pids of those up, how many are starting (loading, or waiting
        for a node with room), why the last one that died starting did, and the seconds until the next
        start after such deaths."""
        self._alive()
        workers = {"wanted": self.wanted, "up": {name: self.ready_pids[name] for name in self.ready},
                   "starting": len(self.workers) - len(self.ready),
                   "error": self.start_error if self.failures else None,
                   "retry_in": max(0.0, self.retry_at - time.monotonic()) if self.retry_at else None}
        return {"queue": self.table.queued(), "running": len(self.table.running()), "pid": os.getpid(),
                "starts": self.count, "workers": workers}

    async def history(self, method: str, *args, **kwargs):
        """The result store's `method` (one of HISTORY) on this node's database: the history for a
        front end on any node. LookupError with --no-store."""
        if method not in HISTORY:
            raise ValueError(f"{method!r} is not one of {HISTORY}")
        if self.db is None:
            raise LookupError("this deployment keeps no results (--no-store)")
        return await asyncio.to_thread(getattr(self.db, method), *args, **kwargs)

    # ---- workers ------------------------------------------------------------------------------

    async def take(self, worker: str, pid: int) -> tuple[dict, list[tuple[str, str, Recipe]]] | None:
        """(the models added or removed since this worker's last answer, the next batch for it, as
        (job id, model id, recipe)): the models as id -> (card, reference to its files), or None for
        one removed; the batch [] when none came within LONG_POLL_S. None: stop."""
        if worker in self.workers and worker not in self.ready:   # its models are loaded
            self.ready.add(worker)
            self.ready_pids[worker] = pid
            self.failures, self.retry_at, self.idle_since = 0, None, None
        deadline = time.monotonic() + LONG_POLL_S
        while not self.stopping:
            batch = self.table.take_batch("", worker, pid)
            changes = self._changes(worker)
            if batch or changes or time.monotonic() >= deadline:
                return changes, [(job.id, job.model, self.recipes[job.id]) for job in batch]
            await _until(self.changed, deadline)
        return None

    def _changes(self, worker: str) -> dict:
        """The models added (or replaced) and removed since the worker last heard, now told."""
        known = self.known.setdefault(worker, {})
        changes = {i: (card, self.files.get(i)) for i, card in self.models.items() if known.get(i) is not card}
        changes.update({i: None for i in known if i not in self.models})
        self.known[worker] = dict(self.models)
        return changes

    async def progress(self, worker: str, job_ids: list[str], step: int,
                       nested: int = 0) -> tuple[list[str], list, dict]:
        """Record a step of these jobs (a batch `nested` in paused ones on the worker): the ones
        that must stop now (cancelled, timed out, lost), and another person's turn to solve now as
        (job id, model id, recipe), the batch paused until `resume` ([]: none; rules.take_turn),
        with the models changed since the worker last heard (as `take` tells them): a turn may be
        of a model added since."""
        jobs = [job for job_id in job_ids if (job := self._running_on(worker, job_id))]
        if jobs:   # the device time since the batch's last report is its people's
            self.table.charge(jobs, time.monotonic() - max(job.last_step for job in jobs))
        stop = [job_id for job_id in job_ids
                if not (job := self._running_on(worker, job_id)) or self.table.step(job, step)]
        active = [job for job in jobs if not job.terminal]
        turn = self.table.take_turn("", active, worker, self.ready_pids.get(worker)) \
            if active and nested < MAX_NESTED else []
        if turn:
            self.table.pause(active)
        return stop, [(job.id, job.model, self.recipes[job.id]) for job in turn], self._changes(worker) if turn else {}

    async def resume(self, worker: str, job_ids: list[str]) -> None:
        """The worker goes on with a batch that a turn paused."""
        self.table.resume([job for job_id in job_ids if (job := self._running_on(worker, job_id))])

    async def preview(self, worker: str, job_id: str, preview: dict) -> None:
        job = self._running_on(worker, job_id)
        if job:
            job.preview = preview

    async def finish(self, worker: str, job_id: str, result: dict, steps_done: int) -> None:
        job = self._running_on(worker, job_id)
        if job and self.db:   # PNGs and index first (in a thread: the loop goes on); a full disk fails the job
            try:
                await asyncio.to_thread(self.db.save_result, job, result, steps_done)
            except StoreError as e:
                self.table.end(job, "failed", error=f"the job failed: StoreError: {e}")
                return
        if job:
            job.step = steps_done
            self.table.end(job, "done", result=result)

    async def fail(self, worker: str, job_ids: list[str], error: str) -> None:
        for job_id in job_ids:
            job = self._running_on(worker, job_id)
            if job:
                self.table.end(job, "failed", error=error)

    async def batch_done(self, seconds: float, jobs: int) -> None:
        self.table.batch_done(seconds, jobs)

    # ---- supervision --------------------------------------------------------------------------

    def _start_worker(self) -> None:
        self.count += 1
        name = f"worker-{self.count}"
        me = ray.get_runtime_context().current_actor
        handle = ModelWorker.options(**self.worker_options).remote(name, me, self.models, self.files, self.settings,
                                                                   self.device, self.solver)
        self.workers[name] = handle
        self.known[name] = dict(self.models)
        watch = asyncio.get_running_loop().create_task(self._watch(name, handle.run.remote()))
        self.watches.add(watch)   # held: the loop keeps only weak references to its tasks
        watch.add_done_callback(self.watches.discard)
        log("worker_started", worker=name, device=self.device)

    async def _watch(self, name: str, running) -> None:
        try:
            await running
            return                         # it stopped because the store is stopping
        except Exception as e:  # noqa: BLE001 -- RayActorError: the process died; anything else: the same to us
            reason = _why(e)
        self._worker_died(name, reason)

    async def _watchdog(self) -> None:
        """Every second: kill a worker whose running job has reported no step for `ray_stall_s` (a
        hung process, a frozen node), its death then queues the job again like any other; and
        while no worker is up, fail the jobs queued for longer than `job_timeout_s`."""
        while not self.stopping:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            silent = now - self.settings.ray_stall_s
            for name in {job.worker for job in self.table.running() if job.last_step < silent and job.paused_at is None}:
                if name in self.workers:
                    log("worker_stalled", worker=name, seconds=self.settings.ray_stall_s)
                    ray.kill(self.workers[name])
            if self.idle_since is not None:
                self._fail_unrunnable(now)
            self._fail_waiting(now)

    def _fail_unrunnable(self, now: float) -> None:
        """Fail the queued jobs that no worker could take for `job_timeout_s`: a client gets an answer."""
        limit = self.settings.job_timeout_s
        since = now - limit
        why = f"; the last worker to start died: {self.start_error}" if self.start_error else ""
        for job in [j for j in self.table.jobs.values() if j.status == "queued"]:
            if max(job.created, self.idle_since) < since:
                self.table.fail_queued(job, f"no model worker could run the job for {limit:g} s{why}")

    def _fail_waiting(self, now: float) -> None:
        """Fail the reloaded jobs whose model no front end added again within `job_timeout_s`."""
        limit = self.settings.job_timeout_s
        if now - self.born < limit:
            return
        for name in [q for q in self.table.queues if q.startswith(WAITING)]:
            for job in list(self.table.queues[name]):
                self.table.fail_queued(job, f"the job could not run again after a restart: its model "
                                            f"{job.model!r} was not served again within {limit:g} s")

    def _worker_died(self, name: str, reason: str) -> None:
        self.workers.pop(name, None)
        self.known.pop(name, None)
        if self.stopping:   # killed by `shutdown`
            return
        started = name in self.ready
        self.ready.discard(name)
        self.ready_pids.pop(name, None)
        if not self.ready and self.idle_since is None:
            self.idle_since = time.monotonic()
        log("worker_died", worker=name, reason=reason, started=started)
        for job in self.table.running():
            if job.worker != name:
                continue
            if job.attempts < ATTEMPTS:   # run it again, first in line
                self.table.requeue(job)
            else:
                self.table.end(job, "failed", error=f"the job's worker died on each of its {ATTEMPTS} attempts "
                                                    f"(last: {reason}); the job was not finished")
        if started:
            self._start_worker()
        else:
            self.failures, self.start_error = self.failures + 1, reason
            self._start_worker_later(_backoff(self.failures))
        _pulse(self.changed)

    def _start_worker_later(self, pause: float) -> None:
        """A worker after `pause` seconds: one that died starting would most likely die again now."""
        self.retry_at = time.monotonic() + pause
        log("worker_backoff", seconds=pause, failures=self.failures, error=self.start_error)
        asyncio.get_running_loop().call_later(pause, self._restart_worker)

    def _restart_worker(self) -> None:
        self.retry_at = None
        if not self.stopping:
            self._start_worker()

    # ---- bookkeeping --------------------------------------------------------------------------

    def _running_on(self, worker: str, job_id: str) -> Job | None:
        job = self.table.jobs.get(job_id)
        return job if job and job.status == "running" and job.worker == worker else None

    def _ended(self, job: Job) -> None:
        """The table's `on_end`: free the job's input tensors, wake the front ends waiting for it."""
        self.recipes.pop(job.id, None)
        _pulse(self.ended)


def _backoff(failures: int) -> float:
    """Seconds before the next worker, after `failures` workers in a row died starting: 1, 2, 4, ... 60."""
    return min(MAX_BACKOFF_S, 2.0 ** (failures - 1))


def _why(error: Exception) -> str:
    """A worker's death in a line: the error's type and its message's first line or, for an
    exception in the worker's constructor, the last line of its traceback (what went wrong)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if "creation task" in (lines[0] if lines else "") and len(lines) > 1:
        return lines[-1][:300]
    return f"{type(error).__name__}: {lines[0][:200]}" if lines else type(error).__name__


def _pulse(event: asyncio.Event) -> None:
    """Wake every coroutine waiting on the event now (and none later)."""
    event.set()
    event.clear()


async def _until(event: asyncio.Event, deadline: float) -> None:
    """Until the event is pulsed or the deadline passes."""
    try:
        await asyncio.wait_for(event.wait(), max(0.0, deadline - time.monotonic()))
    except asyncio.TimeoutError:
        pass
