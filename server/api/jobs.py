"""Jobs: a queue per device, one worker thread per device, and batching of compatible jobs.

Requests build a job's `TaskRun` (validation happens there) and queue it. A worker takes the
oldest queued job plus every other queued job with the same (task, model, problem.batch_key),
up to `max_batch`, and solves them in one `solve_batch` call; each job's callback reports its
progress and stops it on cancellation or time-out. Any error fails the batch's jobs, never the
worker.

That is the embedded implementation, the default: threads in the server process. `ray_jobs.py`
is the other one (model workers as Ray actors, job state in a shared actor); both offer the same
methods, and `make_manager` picks one from the settings. `JobManager` needs no Ray.
"""
import asyncio
import math
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..synthesis.tasks import TaskRun, finish, solve_batch
from .images import encode_pngs
from .logs import log
from .settings import Settings

TERMINAL = ("done", "failed", "cancelled")


class QueueFull(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"the job queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(eq=False)
class Job:
    task: str
    model_id: str
    model: object                      # RobustModel
    problem: TaskRun | None            # dropped when the job ends, to free its tensors
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    status: str = "queued"
    step: int = 0
    total: int = 0
    result: dict | None = None
    error: str | None = None
    preview: dict | None = None        # replaced (never mutated) every `preview_every` steps, while watched
    watchers: int = 0                  # event streams open on the job: previews are made only for them
    batch_size: int = 1
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    waiters: list = field(default_factory=list)   # called once when the job ends

    def __post_init__(self):
        self.total = self.problem.steps
        self.recipe = self.problem.recipe
        self.device = str(self.model.device)
        self.key = (self.task, self.model_id, self.problem.batch_key)   # equal keys can share a batch

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def view(self) -> dict:
        return {"id": self.id, "task": self.task, "model": self.model_id, "status": self.status, "step": self.step,
                "total": self.total, "result": self.result, "error": self.error, "recipe": self.recipe.to_json()}


def make_manager(settings: Settings, models: dict):
    """The embedded manager, or with `settings.ray` the Ray one (Ray is imported only then)."""
    if not settings.ray:
        return JobManager(settings)
    from .ray_jobs import RayJobManager
    return RayJobManager(settings, models)


def result_view(model, problem: TaskRun, result) -> dict:
    """A finished job's `result`: PNG data URLs at display size and the model's verdict."""
    out = finish(model, problem, result)
    height, width = out.images.shape[2:]
    return {"images": encode_pngs(out.images, out.recipe), "classes": out.classes, "class_names": out.class_names,
            "scores": [s if math.isfinite(s) else None for s in out.scores], "width": width, "height": height}


def preview_view(progress, settings: Settings) -> dict | None:
    """The preview to publish at this step, or None between previews."""
    if progress.step % settings.preview_every or not 0 < progress.step < progress.total:
        return None
    images = encode_pngs(progress.x[: settings.preview_max_images])
    return {"step": progress.step, "total": progress.total, "image": images[0], "images": images}


class JobManager:
    """Owns every job; `submit`, `get` and `cancel` are safe from any thread."""

    def __init__(self, settings: Settings, solver=solve_batch):
        self.settings = settings
        self.solver = solver              # tests wrap it to count batched calls
        self._cond = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._queues: dict[str, deque[Job]] = {}
        self._workers: list[threading.Thread] = []
        self._stopping = False
        self._seconds_per_batch = 1.0     # running mean, for Retry-After
        # Results are encoded (PNGs, recipes) here, so that the device's worker goes on to the next batch.
        self._finisher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="jobs-finish")

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self, devices: list[str]) -> None:
        for device in dict.fromkeys(devices):
            self._queues.setdefault(device, deque())
            worker = threading.Thread(target=self._work, args=(device,), name=f"jobs-{device}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            for job in self._jobs.values():
                job.cancel_requested.set()
            for queue in self._queues.values():
                while queue:
                    self._end(queue.popleft(), "cancelled")
            self._cond.notify_all()
        for worker in self._workers:
            worker.join(timeout)
        self._finisher.shutdown(wait=True)

    # ---- requests -----------------------------------------------------------------------------

    def submit(self, job: Job) -> Job:
        images = len(job.problem)  # read now: a finished job drops its problem
        with self._cond:
            self._expire()
            if self.queued() >= self.settings.max_queue:
                raise QueueFull(self.retry_after())
            self._jobs[job.id] = job
            self._queues[job.device].append(job)
            self._cond.notify_all()
        log("job_queued", id=job.id, task=job.task, model=job.model_id, steps=job.total,
            images=images, queue=self.queued())
        return job

    def get(self, job_id: str) -> Job | None:
        with self._cond:
            self._expire()
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """A queued job is cancelled now; a running one at its next optimizer step."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None or job.terminal:
                return job
            job.cancel_requested.set()
            if job.status == "queued":
                self._queues[job.device].remove(job)
                self._end(job, "cancelled")
        return job

    @contextmanager
    def watching(self, job: Job):
        """While an event stream is open on the job: previews are made only for watched jobs."""
        job.watchers += 1
        try:
            yield
        finally:
            job.watchers -= 1

    async def wait(self, job: Job) -> None:
        """Until the job has ended, without holding a thread or polling."""
        loop = asyncio.get_running_loop()
        ended = loop.create_future()

        def wake():
            try:
                loop.call_soon_threadsafe(lambda: ended.done() or ended.set_result(None))
            except RuntimeError:  # the event loop has closed: nobody is waiting any more
                pass

        with self._cond:
            if job.terminal:
                return
            job.waiters.append(wake)
        await ended

    async def latest(self, job: Job) -> Job:
        """The job as it is now (a live object here; a fresh copy from the Ray job store)."""
        return job

    def queued(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def running(self) -> int:
        return sum(job.status == "running" for job in list(self._jobs.values()))

    def retry_after(self) -> int:
        batches = self.queued() / self.settings.max_batch + 1
        return max(1, min(60, math.ceil(batches * self._seconds_per_batch)))

    # ---- the worker ---------------------------------------------------------------------------

    def _work(self, device: str) -> None:
        while True:
            with self._cond:
                while not self._queues[device] and not self._stopping:
                    self._cond.wait(timeout=5.0)
                    self._expire()
                if self._stopping:
                    return
                batch = self._take_batch(self._queues[device])
            self._run(batch)

    def _take_batch(self, queue: deque) -> list[Job]:
        first = queue.popleft()
        batch = [first] + [job for job in queue if job.key == first.key][: self.settings.max_batch - 1]
        for job in batch[1:]:
            queue.remove(job)
        now = time.monotonic()
        for job in batch:
            job.status, job.started, job.batch_size = "running", now, len(batch)
        return batch

    def _run(self, batch: list[Job]) -> None:
        started = time.monotonic()
        model = batch[0].model
        try:
            results = self.solver(model, [job.problem for job in batch], [self._callback(job) for job in batch])
        except Exception as e:  # noqa: BLE001 -- a bad job must fail, not kill the worker
            log("job_error", id=",".join(j.id for j in batch), error=f"{type(e).__name__}: {e}")
            for job in batch:
                self._end(job, "failed", error=f"the job failed: {type(e).__name__}: {e}")
            return
        for job, result in zip(batch, results):
            # The copy to the host here, not in the finisher: there it would also wait for the next batch.
            self._finisher.submit(self._finish, job, model, result.cpu())
        elapsed = time.monotonic() - started
        self._seconds_per_batch = 0.8 * self._seconds_per_batch + 0.2 * elapsed

    def _finish(self, job: Job, model, result) -> None:
        if job.terminal:  # cancelled or timed out mid-batch
            return
        try:
            view = result_view(model, job.problem, result)
        except Exception as e:  # noqa: BLE001
            self._end(job, "failed", error=f"the job failed: {type(e).__name__}: {e}")
            return
        job.step = result.steps_done
        self._end(job, "done", result=view)

    def _callback(self, job: Job):
        limit = self.settings.job_timeout_s

        def on_step(progress) -> bool:
            job.step = progress.step
            if job.cancel_requested.is_set():
                self._end(job, "cancelled")
                return True
            if time.monotonic() - job.started > limit:
                self._end(job, "failed", error=f"the job ran past the time limit of {limit:g} s "
                                               f"(step {progress.step} of {progress.total}): ask for fewer steps")
                return True
            if job.watchers:
                job.preview = preview_view(progress, self.settings) or job.preview
            return False

        return on_step

    # ---- bookkeeping --------------------------------------------------------------------------

    def _end(self, job: Job, status: str, *, error: str | None = None, result: dict | None = None) -> None:
        with self._cond:
            if job.terminal:
                return
            job.status, job.error, job.result, job.finished = status, error, result, time.monotonic()
            job.problem = None  # free the tensors; the job itself lives until it expires
            for wake in job.waiters:
                wake()
            job.waiters.clear()
        log("job_" + status, id=job.id, task=job.task, model=job.model_id, step=job.step, total=job.total,
            batch=job.batch_size, seconds=job.finished - (job.started or job.created), **({"error": error} if error else {}))

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.settings.job_ttl_s
        for job_id in [j.id for j in self._jobs.values() if j.terminal and j.finished < cutoff]:
            del self._jobs[job_id]
