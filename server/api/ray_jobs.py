"""Jobs on a Ray cluster: one model worker per GPU (or per N CPU cores), job state in a shared actor.

The second implementation of the job manager (the first, `jobs.JobManager`, is threads in the
server process). Three parts:

- `JobStore`, one named async actor per namespace, holds every job and the queue. Each HTTP front
  end (`RayJobManager`) reads and writes jobs through it, so several front ends serve the same jobs.
- `ModelWorker` actors hold the served models on their device. Each pulls the oldest queued job
  plus the compatible ones (same task, model and batch key), builds their problems from the
  requests, solves them in one `solve_batch` call, and reports every step: the store answers which
  jobs must stop (cancelled, timed out), so cancellation takes effect within a step or two.
- Supervision, in the store: a worker that dies (killed, out of memory, node lost) has its running
  jobs queued again, once, for another worker; a second death fails them with a clear error. A new
  worker replaces the dead one.

This module is the front end's side (`RayJobManager`); `ray_store.py` and `ray_worker.py` hold the
actors. Only these three modules import Ray.
"""
import copy
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

import ray

from .jobs import TERMINAL, Job, QueueFull
from .logs import log
from .ray_store import STORE_NAME, VIEW_FIELDS, JobStore
from .settings import Settings


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
            # "local": a new Ray on this machine, even where `ray start` left one to connect to
            address = "local" if self.settings.ray == "auto" else self.settings.ray
            # A local Ray runs its workers at niceness 15; here they are the server's work, not a side job.
            system = {"worker_niceness": 0} if address == "local" else None
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
                  "problem_recipe": job.recipe, "extra": {k: v for k, v in view.items() if k not in VIEW_FIELDS}}
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

    @contextmanager
    def watching(self, job: RayJob):
        """Ray workers make every job's previews (the job store keeps the latest)."""
        yield

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
