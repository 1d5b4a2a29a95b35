"""The embedded job manager, the default: a queue and a worker thread per device, in the server process.

A worker takes the oldest queued job plus every other queued job with the same key (task, model,
problem.batch_key), up to `max_batch`, and solves them in one `solve_batch` call; each job's
callback reports its progress and stops it on cancellation or time-out. Between two steps, another
person's turn (rules.JobTable.take_turn) is solved right there, inside the callback, while the
batch waits: a device has one worker, so a light user's image does not wait for a heavy user's
batch to end. Any error fails the batch's jobs, never the worker. Needs no Ray.

With a result store (`store`), a job is recorded before `submit` returns, each result's PNGs are
saved by the finisher threads (off the device's worker), and `start` queues again the jobs that a
server on the same data dir accepted and never finished because it died (`_recover`).
"""
import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..logs import log
from ..settings import Settings
from ..store.files import Owner
from ..synthesis import tasks
from ..synthesis.recipes import Recipe, pack_inputs, unpack_inputs
from ..synthesis.tasks import TaskRun, solve_batch
from .manager import Solver
from .record import Job
from .rules import ATTEMPTS, MAX_NESTED, JobTable
from .views import preview_view, result_view


@dataclass
class _Work:
    """What a queued or running job needs besides its record; dropped when the job ends."""
    model: object                 # RobustModel
    problem: TaskRun
    watchers: int = 0             # event streams open on the job: previews are made only for them
    waiters: list = field(default_factory=list)   # called once when the job ends


class EmbeddedJobManager:
    """Implements `manager.JobManager`; every method is safe from any thread.

    `solver` solves a batch (default `solve_batch`): pass another to observe or fail the solves.
    `store` (a store.sqlite.ResultStore) records jobs and results; `models` (id -> model) rebuild
    the jobs recovered from it.
    """

    def __init__(self, settings: Settings, solver: Solver = solve_batch, store=None, models: dict | None = None):
        self.settings, self._solver, self._store, self._models = settings, solver, store, models or {}
        self._owner = Owner(store.data_dir) if store else None   # held while this process lives
        self._cond = threading.Condition()     # guards the table and the work; re-entrant
        self._table = JobTable(settings, on_end=self._ended, journal=store)
        self._work: dict[str, _Work] = {}
        self._workers: list[threading.Thread] = []
        self._stopping = False
        # Results are encoded (PNGs, recipes) here, so that the device's worker goes on to the next batch.
        self._finisher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="jobs-finish")

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self, devices: list[str]) -> None:
        for device in dict.fromkeys(devices):
            worker = threading.Thread(target=self._run_worker, args=(device,), name=f"jobs-{device}", daemon=True)
            worker.start()
            self._workers.append(worker)
        if self._store:
            self._recover()

    def add_model(self, model_id: str, model) -> None:
        with self._cond:
            self._models = {**self._models, model_id: model}

    def remove_model(self, model_id: str) -> None:
        with self._cond:
            self._models = {i: m for i, m in self._models.items() if i != model_id}

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers. The open jobs stay open in the store: the next start on the data dir runs them."""
        with self._cond:
            self._stopping = True
            self._table.journal = None
            for job in list(self._table.jobs.values()):
                self._table.cancel(job.id)
            self._cond.notify_all()
        for worker in self._workers:
            worker.join(timeout)
        self._finisher.shutdown(wait=True)
        if self._owner:
            self._owner.release()

    # ---- requests -----------------------------------------------------------------------------

    def submit(self, task: str, model_id: str, model, problem: TaskRun, person: str = "local") -> Job:
        job = Job.of(task, model_id, problem, person)
        if self._store:   # recorded before the client hears of it (StoreError: it cannot be)
            self._store.accept(job, pack_inputs(problem.recipe), self._owner.id)
        try:
            self._enqueue(job, model, problem)
        except Exception:
            if self._store:
                self._store.forget(job.id)
            raise
        with self._cond:
            queued, copy = self._table.queued(), job.copy()
        log("job_queued", id=job.id, task=task, model=model_id, steps=job.total, images=len(problem), queue=queued)
        return copy

    def _enqueue(self, job: Job, model, problem: TaskRun, limit: bool = True) -> None:
        with self._cond:
            self._table.add(job, queue=str(model.device), limit=limit)
            self._work[job.id] = _Work(model, problem)
            self._cond.notify_all()

    def _recover(self) -> None:
        """Queue again the open jobs of servers on this data dir that died (a crash, a kill, a lost
        machine's restart): each from its recipe, keeping its attempts; one that was running on
        its last attempt fails."""
        for row in self._store.claim(self._owner.id, self._owner.alive):
            model = self._models.get(row["model"])
            try:
                if row["status"] == "running" and row["attempts"] >= ATTEMPTS:
                    raise RuntimeError(f"the server stopped during each of its {ATTEMPTS} attempts; "
                                       "the job was not finished")
                if model is None:
                    raise LookupError(f"model {row['model']!r} is not served here")
                recipe = Recipe.from_json(row["recipe"], unpack_inputs(row["inputs"]) if row["inputs"] else {})
                problem = tasks.rebuild(model, recipe)
                job = Job.of(row["task"], row["model"], problem, row["person"])
                job.id, job.attempts = row["id"], row["attempts"]
                self._enqueue(job, model, problem, limit=False)
                log("job_recovered", id=job.id, task=job.task, model=job.model, attempts=job.attempts)
            except Exception as e:  # noqa: BLE001 -- one bad record must not stop the server
                lost = Job(task=row["task"], model=row["model"], total=row["total"], key=(), recipe=row["recipe"],
                           id=row["id"], status="failed", attempts=row["attempts"], person=row["person"],
                           error=f"the job could not run again after a restart: {e}")
                self._store.ended(lost)
                log("job_failed", id=lost.id, task=lost.task, model=lost.model, error=lost.error)
        self._store.flush()

    def get(self, job_id: str) -> Job | None:
        with self._cond:
            job = self._table.get(job_id)
            return job.copy() if job else None

    def cancel(self, job_id: str) -> Job | None:
        with self._cond:
            job = self._table.cancel(job_id)
            return job.copy() if job else None

    @contextmanager
    def watching(self, job: Job):
        """While an event stream is open on the job: previews are made only for watched jobs."""
        with self._cond:
            work = self._work.get(job.id)
            if work:
                work.watchers += 1
        try:
            yield
        finally:
            with self._cond:
                if work:
                    work.watchers -= 1

    async def latest(self, job: Job) -> Job:
        return self.get(job.id) or job

    async def wait(self, job: Job) -> Job:
        """Until the job has ended, without holding a thread or polling."""
        loop = asyncio.get_running_loop()
        ended = loop.create_future()

        def wake():
            try:
                loop.call_soon_threadsafe(lambda: ended.done() or ended.set_result(None))
            except RuntimeError:  # the event loop has closed: nobody is waiting any more
                pass

        with self._cond:
            work = self._work.get(job.id)
            if work is None:      # ended already
                return self.get(job.id) or job
            work.waiters.append(wake)
        await ended
        return self.get(job.id) or job

    def queued(self) -> int:
        with self._cond:
            return self._table.queued()

    def running(self) -> int:
        with self._cond:
            return len(self._table.running())

    def stats(self) -> dict:
        with self._cond:
            return dict(self._table.solved)

    def health(self) -> dict:
        alive = sum(worker.is_alive() for worker in self._workers)
        with self._cond:
            return {"queue": self._table.queued(), "running": len(self._table.running()), "parts": {
                "worker threads": {"up": alive > 0, "detail": f"{alive} of {len(self._workers)} up"}}}

    # ---- the workers --------------------------------------------------------------------------

    def _run_worker(self, device: str) -> None:
        while True:
            with self._cond:
                while not self._table.queues.get(device) and not self._stopping:
                    self._cond.wait(timeout=5.0)
                    self._table.expire()
                if self._stopping:
                    return
                batch = self._table.take_batch(device, worker=_worker_name(device), pid=os.getpid())
                work = [self._work[job.id] for job in batch]
            self._solve(device, batch, work)

    def _solve(self, device: str, batch: list[Job], work: list[_Work], nested: int = 0) -> None:
        started = time.monotonic()
        model = work[0].model
        turns = self._turns(device, batch, nested)
        try:
            results = self._solver(model, [w.problem for w in work], [self._callback(job, turns) for job in batch])
        except Exception as e:  # noqa: BLE001 -- a bad job must fail, not kill the worker
            log("job_error", id=",".join(j.id for j in batch), error=f"{type(e).__name__}: {e}")
            with self._cond:
                for job in batch:
                    self._table.end(job, "failed", error=f"the job failed: {type(e).__name__}: {e}")
            return
        for job, w, result in zip(batch, work, results):
            # The copy to the host here, not in the finisher: there it would also wait for the next batch.
            self._finisher.submit(self._finish, job, model, w.problem, result.cpu())
        with self._cond:
            self._table.batch_done(time.monotonic() - started, len(batch))

    def _finish(self, job: Job, model, problem: TaskRun, result) -> None:
        if job.terminal:  # cancelled or timed out mid-batch
            return
        try:
            view = result_view(model, problem, result)
            if self._store:   # StoreError (an OSError), e.g. a full disk: the job fails and says so
                self._store.save_result(job, view, result.steps_done)
        except Exception as e:  # noqa: BLE001
            with self._cond:
                self._table.end(job, "failed", error=f"the job failed: {type(e).__name__}: {e}")
            return
        with self._cond:
            if not job.terminal:
                job.step = result.steps_done
                self._table.end(job, "done", result=view)

    def _turns(self, device: str, batch: list[Job], nested: int):
        """Called by each job's callback at each step; at the first call of a step: charge the batch's
        people for the time since the last, and solve another person's turn (`take_turn`) now, the
        batch paused meanwhile."""
        last = {"step": -1, "at": time.monotonic()}

        def between_steps(step: int) -> None:
            if step == last["step"]:
                return
            with self._cond:
                now = time.monotonic()
                self._table.charge(batch, now - last["at"])
                last.update(step=step, at=now)
                turn = [] if nested >= MAX_NESTED or self._stopping else self._table.take_turn(
                    device, batch, worker=_worker_name(device), pid=os.getpid())
                if not turn:
                    return
                self._table.pause(batch)
                work = [self._work[job.id] for job in turn]
            self._solve(device, turn, work, nested + 1)
            with self._cond:
                self._table.resume(batch)
                last["at"] = time.monotonic()

        return between_steps

    def _callback(self, job: Job, between_steps):
        settings = self.settings

        def on_step(progress) -> bool:
            between_steps(progress.step)
            with self._cond:
                if job.terminal or self._table.step(job, progress.step):
                    return True
                watched = self._work[job.id].watchers > 0
            if watched:
                job.preview = preview_view(progress, settings.preview_every, settings.preview_max_images) or job.preview
            return False

        return on_step

    def _ended(self, job: Job) -> None:
        """The table's `on_end` (under the lock): free the job's tensors, wake its waiters."""
        work = self._work.pop(job.id, None)
        for wake in work.waiters if work else ():
            wake()


def _worker_name(device: str) -> str:
    return f"thread-{device}"
