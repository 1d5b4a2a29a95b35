"""Jobs on a Ray cluster: one model worker per GPU (or per N CPU cores), job state in a shared actor.

The second implementation of the job manager (the first, `jobs.JobManager`, is threads in the
server process; only this module imports Ray). Three parts:

- `JobStore`, one named async actor per namespace, holds every job and the queue. Each HTTP front
  end (`RayJobManager`) reads and writes jobs through it, so several front ends serve the same jobs.
- `ModelWorker` actors hold the served models on their device. Each pulls the oldest queued job
  plus the compatible ones (same task, model and batch key), builds their problems from the
  requests, solves them in one `solve_batch` call, and reports every step: the store answers which
  jobs must stop (cancelled, timed out), so cancellation takes effect at the next optimizer step.
- Supervision, in the store: a worker that dies (killed, out of memory, node lost) has its running
  jobs queued again, once, for another worker; a second death fails them with a clear error. A new
  worker replaces the dead one.
"""
import asyncio
import copy
import logging
import math
import os
import time
import uuid
from collections import deque
from dataclasses import dataclass

import ray
import torch

from ..synthesis.problem import solve_batch
from .jobs import TERMINAL, Job, QueueFull, preview_view, result_view
from .logs import log
from .problems import build_problem
from .schemas import TaskRequest
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
        self.count, self.stopping, self.seconds_per_batch = 0, False, 1.0
        self.solved = {"batches": 0, "jobs": 0}
        self.changed, self.ended = asyncio.Event(), asyncio.Event()   # pulsed: a job was queued / ended

    async def start(self, owner: str) -> str:
        """Start the workers, once: returns the owner (the front end that created the store)."""
        if owner == self.owner and not self.workers:
            for _ in range(self.wanted):
                self._start_worker()
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
            job["step"] = step
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
        asyncio.get_running_loop().create_task(self._watch(name, handle.run.remote()))
        log("worker_started", worker=name, device=self.device)

    async def _watch(self, name: str, running) -> None:
        try:
            await running
            return                         # it stopped because the store is stopping
        except Exception as e:  # noqa: BLE001 -- RayActorError: the process died; anything else: the same to us
            reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200]}" if str(e).strip() else type(e).__name__
        self._worker_died(name, reason)

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
            self.jobs[job_id].update(status="running", worker=worker, started=now,
                                     attempts=self.jobs[job_id]["attempts"] + 1)
        return [{k: self.jobs[i][k] for k in ("id", "task", "model", "request")} for i in ids]

    def _running_on(self, worker: str, job_id: str) -> dict | None:
        job = self.jobs.get(job_id)
        return job if job and job["status"] == "running" and job["worker"] == worker else None

    def _end(self, job: dict, status: str, *, error: str | None = None, result: dict | None = None) -> None:
        job.update(status=status, error=error, result=result, finished=time.monotonic(), request=None)
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


@ray.remote
class ModelWorker:
    """The served models on one device, solving batches that it pulls from the store."""

    def __init__(self, name: str, store, models: list, settings: Settings, device: str):
        self.name, self.store, self.settings = name, store, settings
        self.models = {model_id: _frozen(m.to(device)) for model_id, m in ray.get(models[0]).items()}
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        if cpus:
            torch.set_num_threads(max(1, int(cpus)))

    def run(self) -> None:
        """Pull and solve batches until the store stops; returns only then."""
        while True:
            batch = ray.get(self.store.take.remote(self.name, os.getpid()))
            if batch is None:
                return
            if batch:
                self._solve(batch)

    def _solve(self, batch: list[dict]) -> None:
        started = time.monotonic()
        ids = [job["id"] for job in batch]
        model = self.models[batch[0]["model"]]
        try:
            problems = [build_problem(job["task"], model, TaskRequest.model_validate(job["request"]), self.settings)
                        for job in batch]
            results = solve_batch(model, problems, self._callbacks(ids))
            done = [(job_id, result_view(model, p, r), r.steps_done)
                    for job_id, p, r in zip(ids, problems, results) if not r.stopped]
        except Exception as e:  # noqa: BLE001 -- a bad job must fail, not kill the worker
            ray.get(self.store.fail.remote(self.name, ids, f"the job failed: {type(e).__name__}: {e}"))
            return
        ray.get([self.store.finish.remote(self.name, *d) for d in done])
        self.store.batch_done.remote(time.monotonic() - started, len(batch))

    def _callbacks(self, ids: list[str]) -> list:
        """One callback per job; the first to see a step reports it for the batch in one call.

        The report does not wait for the store's answer (which jobs to stop): it is read at a later
        step, once it has come, so a step never waits on the network, and a cancellation takes
        effect one or two steps later. Steps reported while an answer is outstanding are skipped.
        """
        stopped: set[str] = set()
        seen = {"step": -1, "answer": None}

        def report(step: int) -> None:
            answer = seen["answer"]
            if answer is not None and ray.wait([answer], timeout=0)[0]:
                stopped.update(ray.get(answer))
                answer = None
            if answer is None:
                answer = self.store.progress.remote(self.name, [i for i in ids if i not in stopped], step)
            seen.update(step=step, answer=answer)

        def callback(job_id: str):
            def on_step(progress) -> bool:
                if progress.step != seen["step"]:
                    report(progress.step)
                preview = preview_view(progress, self.settings)
                if preview and job_id not in stopped:
                    self.store.preview.remote(self.name, job_id, preview)
                return job_id in stopped
            return on_step

        return [callback(i) for i in ids]


def _frozen(model):
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@dataclass
class RayJob:
    """A front end's copy of a job in the store: what the routes read."""
    id: str
    task: str
    model: str
    status: str
    step: int
    total: int
    result: dict | None
    error: str | None
    preview: dict | None
    extra: dict       # what else the front end's job view had at submission (e.g. settings), passed through

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def view(self) -> dict:
        return {**self.extra, **{k: getattr(self, k) for k in VIEW_FIELDS if k not in ("preview", "extra")}}


class RayJobManager:
    """The job manager's methods, on the cluster's job store (joined, or created with the workers)."""

    def __init__(self, settings: Settings, models: dict):
        self.settings, self.models = settings, models
        self.store, self.owner, self.started_ray = None, False, False

    def start(self, devices: list[str]) -> None:
        if not ray.is_initialized():
            address = None if self.settings.ray == "auto" else self.settings.ray
            # A local Ray runs its workers at niceness 15; here they are the server's work, not a side job.
            system = {"worker_niceness": 0} if address is None else None
            ray.init(address=address, include_dashboard=False, _system_config=system)
            self.started_ray = True
        token = uuid.uuid4().hex
        # A store on a cluster we joined is detached: it outlives this front end, for the others.
        detached = self.settings.ray != "auto"
        self.store = JobStore.options(name=STORE_NAME, namespace=self.settings.ray_namespace, get_if_exists=True,
                                      lifetime="detached" if detached else None).remote(
            self.settings, _cpu_copies(self.models), *self._placement(), token)
        created = ray.get(self.store.start.remote(token)) == token
        self.owner = created and not detached
        log("ray_jobs", store="created" if created else "joined", namespace=self.settings.ray_namespace,
            resources=ray.cluster_resources())

    def _placement(self) -> tuple[int, dict, str]:
        """(workers, actor options, device): one worker per GPU, else one per `ray_cpus_per_worker` cores."""
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if gpus:
            return self.settings.ray_workers or gpus, {"num_gpus": 1}, "cuda"
        cpus = self.settings.ray_cpus_per_worker
        return (self.settings.ray_workers or max(1, int(resources.get("CPU", 1)) // cpus), {"num_cpus": cpus},
                "cpu")

    def stop(self, timeout: float = 10.0) -> None:
        if self.owner:
            ray.get(self.store.shutdown.remote(), timeout=timeout)
            ray.kill(self.store)
        if self.started_ray:
            ray.shutdown()

    def submit(self, job: Job) -> RayJob:
        view = job.view()
        record = {"id": job.id, "task": job.task, "model": job.model_id, "total": job.total, "key": job.key,
                  "request": job.request, "extra": {k: v for k, v in view.items() if k not in VIEW_FIELDS}}
        retry_after = ray.get(self.store.submit.remote(record))
        if retry_after is not None:
            raise QueueFull(retry_after)
        log("job_queued", id=job.id, task=job.task, model=job.model_id, steps=job.total)
        return RayJob(**{**{k: None for k in VIEW_FIELDS}, **{k: v for k, v in view.items() if k in VIEW_FIELDS},
                         "extra": record["extra"]})

    def get(self, job_id: str) -> RayJob | None:
        state = ray.get(self.store.get.remote(job_id))
        return RayJob(**state) if state else None

    def cancel(self, job_id: str) -> RayJob | None:
        state = ray.get(self.store.cancel.remote(job_id))
        return RayJob(**state) if state else None

    async def latest(self, job: RayJob) -> RayJob:
        state = await self.store.get.remote(job.id)
        return RayJob(**state) if state else job

    async def wait(self, job: RayJob) -> None:
        """Until the job has ended (it is updated in place)."""
        while not job.terminal:
            state = await self.store.wait.remote(job.id)
            if state is None:   # expired: nothing more will change
                return
            job.__dict__.update(state)

    def queued(self) -> int:
        return ray.get(self.store.counts.remote())[0]

    def running(self) -> int:
        return ray.get(self.store.counts.remote())[1]


def _cpu_copies(models: dict) -> dict:
    """The models as the workers receive them: on the CPU (a worker moves its copy to its device)."""
    return {i: m if m.device.type == "cpu" else copy.deepcopy(m).cpu() for i, m in models.items()}
