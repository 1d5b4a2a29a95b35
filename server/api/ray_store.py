"""The Ray job store: one named async actor holding every job and the queue (see ray_jobs.py).

Front ends submit, read, wait for and cancel jobs through it; model workers pull batches from
it and report steps, previews and results to it; it starts the workers, watches them, and
queues a dead worker's jobs again, once.
"""
import asyncio
import logging
import math
import time
from collections import deque

import ray

from .jobs import TERMINAL
from .logs import log
from .ray_worker import ModelWorker
from .settings import Settings

STORE_NAME = "job-store"
LONG_POLL_S = 1.0      # a call waiting for work (a worker) or for a job's end (a front end) returns after this
ATTEMPTS = 2           # a job whose worker dies runs once more, then fails
VIEW_FIELDS = ("id", "task", "model", "status", "step", "total", "result", "error", "preview", "extra")


@ray.remote(num_cpus=0)
class JobStore:
    """Every job and the queue; async, so a worker waiting for work blocks nobody."""

    def __init__(self, settings: Settings, models: dict, workers: int, worker_options: dict, device: str,
                 owner: str):
        logging.basicConfig(level=logging.INFO, format="%(message)s")   # job events, in Ray's logs of this actor
        self.settings, self.owner = settings, owner
        self.models = ray.put(models)     # the store owns the weights' copy: it outlives any front end
        self.wanted, self.worker_options, self.device = workers, worker_options, device
        self.jobs: dict[str, dict] = {}
        self.queue: deque[str] = deque()
        self.workers: dict[str, object] = {}   # name -> handle, while alive
        self.pids: dict[str, int] = {}
        self.watches: set[asyncio.Task] = set()
        self.count, self.stopping, self.seconds_per_batch = 0, False, 1.0
        self.solved = {"batches": 0, "jobs": 0}
        self.changed, self.ended = asyncio.Event(), asyncio.Event()   # pulsed: a job was queued / ended

    async def start(self, owner: str) -> str:
        """Start the workers, once: returns the owner (the front end that created the store)."""
        if owner == self.owner and not self.workers:
            for _ in range(self.wanted):
                self._start_worker()
            self.watchdog = asyncio.get_running_loop().create_task(self._kill_stalled())
        return self.owner

    async def shutdown(self) -> None:
        self.stopping = True
        self._pulse()
        for handle in self.workers.values():
            ray.kill(handle)

    # ---- front ends ---------------------------------------------------------------------------

    async def submit(self, record: dict) -> int | None:
        """Queue a job; the Retry-After seconds instead when the queue is full."""
        self._expire()
        if len(self.queue) >= self.settings.max_queue:
            return self.retry_after()
        self.jobs[record["id"]] = {**record, "status": "queued", "step": 0, "result": None, "error": None,
                                   "preview": None, "attempts": 0, "worker": None, "cancel": False,
                                   "created": time.monotonic(), "started": None, "finished": None}
        self.queue.append(record["id"])
        self._pulse()
        return None

    async def get(self, job_id: str) -> dict | None:
        self._expire()
        job = self.jobs.get(job_id)
        return {k: job[k] for k in VIEW_FIELDS} if job else None

    async def cancel(self, job_id: str) -> dict | None:
        """A queued job is cancelled now; a running one at its next optimizer step."""
        job = self.jobs.get(job_id)
        if job and job["status"] == "queued":
            self.queue.remove(job_id)
            self._end(job, "cancelled")
        elif job and job["status"] == "running":
            job["cancel"] = True
        return await self.get(job_id)

    async def wait(self, job_id: str) -> dict | None:
        """The job once it has ended, or as it is after LONG_POLL_S."""
        deadline = time.monotonic() + LONG_POLL_S
        while (job := self.jobs.get(job_id)) and job["status"] not in TERMINAL and time.monotonic() < deadline:
            await _until(self.ended, deadline)
        return await self.get(job_id)

    async def counts(self) -> tuple[int, int]:
        return len(self.queue), sum(j["status"] == "running" for j in self.jobs.values())

    async def describe(self, job_id: str) -> dict:
        """Where a job runs: its worker, that worker's process id, and how many times it started."""
        job = self.jobs[job_id]
        return {"worker": job["worker"], "pid": self.pids.get(job["worker"]), "attempts": job["attempts"]}

    def retry_after(self) -> int:
        batches = len(self.queue) / self.settings.max_batch + 1
        return max(1, min(60, math.ceil(batches * self.seconds_per_batch)))

    # ---- workers ------------------------------------------------------------------------------

    async def take(self, worker: str, pid: int) -> list[dict] | None:
        """The next batch for this worker ([] when none came within LONG_POLL_S; None: stop)."""
        self.pids[worker] = pid
        deadline = time.monotonic() + LONG_POLL_S
        while not self.stopping:
            batch = self._take_batch(worker)
            if batch or time.monotonic() >= deadline:
                return batch
            await _until(self.changed, deadline)
        return None

    async def progress(self, worker: str, job_ids: list[str], step: int) -> list[str]:
        """Record a step of these jobs; the ones that must stop now (cancelled, timed out, lost)."""
        stop, limit = [], self.settings.job_timeout_s
        for job_id in job_ids:
            job = self.jobs.get(job_id)
            if job is None or job["status"] != "running" or job["worker"] != worker:
                stop.append(job_id)
                continue
            job["step"], job["seen"] = step, time.monotonic()
            if job["cancel"]:
                self._end(job, "cancelled")
                stop.append(job_id)
            elif time.monotonic() - job["started"] > limit:
                self._end(job, "failed", error=f"the job ran past the time limit of {limit:g} s "
                                               f"(step {step} of {job['total']}): ask for fewer steps")
                stop.append(job_id)
        return stop

    async def preview(self, worker: str, job_id: str, preview: dict) -> None:
        job = self._running_on(worker, job_id)
        if job:
            job["preview"] = preview

    async def finish(self, worker: str, job_id: str, result: dict, steps_done: int) -> None:
        job = self._running_on(worker, job_id)
        if job:
            job["step"] = steps_done
            self._end(job, "done", result=result)

    async def fail(self, worker: str, job_ids: list[str], error: str) -> None:
        for job_id in job_ids:
            job = self._running_on(worker, job_id)
            if job:
                self._end(job, "failed", error=error)

    async def batch_done(self, seconds: float, jobs: int) -> None:
        self.seconds_per_batch = 0.8 * self.seconds_per_batch + 0.2 * seconds
        self.solved["batches"] += 1
        self.solved["jobs"] += jobs

    async def stats(self) -> dict:
        """Batches solved and the jobs in them, since the start (bench/bench_load.py reads it)."""
        return dict(self.solved)

    # ---- supervision --------------------------------------------------------------------------

    def _start_worker(self) -> None:
        self.count += 1
        name = f"worker-{self.count}"
        me = ray.get_runtime_context().current_actor
        handle = ModelWorker.options(**self.worker_options).remote(name, me, [self.models], self.settings,
                                                                   self.device)
        self.workers[name] = handle
        watch = asyncio.get_running_loop().create_task(self._watch(name, handle.run.remote()))
        self.watches.add(watch)   # held: the loop keeps only weak references to its tasks
        watch.add_done_callback(self.watches.discard)
        log("worker_started", worker=name, device=self.device)

    async def _watch(self, name: str, running) -> None:
        try:
            await running
            return                         # it stopped because the store is stopping
        except Exception as e:  # noqa: BLE001 -- RayActorError: the process died; anything else: the same to us
            first_line = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
            reason = f"{type(e).__name__}: {first_line}" if first_line else type(e).__name__
        self._worker_died(name, reason)

    async def _kill_stalled(self) -> None:
        """Kill a worker whose running job has reported no step for `ray_stall_s` (a hung process, a
        frozen node): its death then queues the job again like any other."""
        while not self.stopping:
            await asyncio.sleep(1.0)
            limit = time.monotonic() - self.settings.ray_stall_s
            for name in {j["worker"] for j in self.jobs.values() if j["status"] == "running" and j["seen"] < limit}:
                if name in self.workers:
                    log("worker_stalled", worker=name, seconds=self.settings.ray_stall_s)
                    ray.kill(self.workers[name])

    def _worker_died(self, name: str, reason: str) -> None:
        self.workers.pop(name, None)
        if self.stopping:   # killed by `shutdown`
            return
        log("worker_died", worker=name, reason=reason)
        for job in self.jobs.values():
            if job["worker"] != name or job["status"] != "running":
                continue
            if job["attempts"] < ATTEMPTS:   # run it again, first in line
                job.update(status="queued", step=0, preview=None, worker=None, cancel=False)
                self.queue.appendleft(job["id"])
            else:
                self._end(job, "failed", error=f"the job's worker died on each of its {ATTEMPTS} attempts "
                                               f"(last: {reason}); the job was not finished")
        self._start_worker()
        self._pulse()

    # ---- bookkeeping --------------------------------------------------------------------------

    def _take_batch(self, worker: str) -> list[dict]:
        if not self.queue:
            return []
        first = self.jobs[self.queue[0]]
        ids = [i for i in self.queue if self.jobs[i]["key"] == first["key"]][: self.settings.max_batch]
        now = time.monotonic()
        for job_id in ids:
            self.queue.remove(job_id)
            self.jobs[job_id].update(status="running", worker=worker, started=now, seen=now,
                                     attempts=self.jobs[job_id]["attempts"] + 1)
        return [{k: self.jobs[i][k] for k in ("id", "task", "model", "problem_recipe")} for i in ids]

    def _running_on(self, worker: str, job_id: str) -> dict | None:
        job = self.jobs.get(job_id)
        return job if job and job["status"] == "running" and job["worker"] == worker else None

    def _end(self, job: dict, status: str, *, error: str | None = None, result: dict | None = None) -> None:
        job.update(status=status, error=error, result=result, finished=time.monotonic(), problem_recipe=None)
        _pulse(self.ended)
        log("job_" + status, id=job["id"], task=job["task"], model=job["model"], step=job["step"],
            total=job["total"], worker=job["worker"], attempts=job["attempts"],
            seconds=job["finished"] - (job["started"] or job["created"]), **({"error": error} if error else {}))

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.settings.job_ttl_s
        for job_id in [i for i, j in self.jobs.items() if j["status"] in TERMINAL and j["finished"] < cutoff]:
            del self.jobs[job_id]

    def _pulse(self) -> None:
        _pulse(self.changed)


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
