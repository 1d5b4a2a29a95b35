"""Jobs on a Ray cluster: one model worker per GPU (or per N CPU cores), job state in a shared actor.

The second implementation of `manager.JobManager` (the first, `embedded.py`, is threads in the
server process). Three parts:

- `JobStore` (store.py), one named async actor per namespace, holds every job and the queue. Each
  HTTP front end (`RayJobManager`) reads and writes jobs through it, so several front ends serve the
  same jobs.
- `ModelWorker` actors (worker.py) load the served models onto their device: only they hold models.
  Each pulls the oldest queued job plus the compatible ones (same task, model and batch key),
  builds their problems from the recipes, solves them in one `solve_batch` call, and reports every
  step: the store answers which jobs must stop (cancelled, timed out), so cancellation takes effect
  within a step or two.
- Supervision, in the store: a worker that dies (killed, out of memory, node lost) has its running
  jobs queued again, once, for another worker; a second death fails them with a clear error. A new
  worker replaces the dead one.
- Persistence: the store records every job in the result store's SQLite database on its node and
  Ray restarts it when it dies (`max_restarts`); the new one reloads the open jobs (store.py). Front
  ends read the history through it (`StoreHistory`), from any node.
- No single point of failure: the served models travel by value (a card names a file that each
  worker loads on its node), so no process holds the weights for the others (store.py).
- Models made at run time (a person's training, run on the cluster by ray/training.py) are added
  to the store with their files (`add_model`), which every worker loads, and removed (`remove_model`).

This module is the front end's side. It holds the models' cards, not the models: a request is
checked against the card (`tasks.check`) and queued as a recipe with its batch key
(`tasks.batch_key`), and a palette is computed by a Ray task that loads the model (`palette`).
Only this sub-package imports Ray.
"""
import copy
import threading
import uuid
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import ray
from ray.exceptions import GetTimeoutError, RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ...logs import log
from ...settings import Settings
from ...synthesis.errors import FieldError
from ...synthesis.features.entries import palette_entries
from ...synthesis.models.loading import Card, load_model, own_model_ids
from ...synthesis.models.robust_model import RobustModel
from ...synthesis.palette import PaletteCancelled
from ...synthesis.recipes import Recipe
from ...synthesis.tasks import batch_key, solve_batch
from ..manager import Solver
from ..record import Job
from ..rules import QueueFull
from .files import loadable, model_files
from .store import HISTORY, STORE_NAME, UNKNOWN_MODEL, JobStore

HEALTH_TIMEOUT_S = 2.0   # /api/health waits this long for the job store (it may be restarting)


class RayJobManager:
    """Implements `manager.JobManager` on the cluster's job store (joined, or created with the workers).

    `models`: id -> the card that each worker loads the model from (`loading.Card.source`), or a
    model in memory (tests), which the workers receive as it is. `solver` runs in the workers (default
    `solve_batch`): it must pickle, and what it records stays there.
    """

    def __init__(self, settings: Settings, models: dict[str, Card | RobustModel], solver: Solver = solve_batch):
        self.settings, self.models, self.solver = settings, models, solver
        self.store, self.owner, self.started_ray = None, False, False
        self.files: dict[str, ray.ObjectRef] = {}   # a person's model (data dir) -> a reference to its files
        self.in_memory = None   # [a reference to the models given in memory], while this front end lives

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
        # Restarted when it dies, on this node (its database is in this node's data dir); calls made
        # meanwhile wait for the new one.
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        namespace, lifetime = self.settings.ray_namespace, "detached" if detached else None
        # People's models travel with their files: a node may lack this one's data dir.
        own = set(own_model_ids(self.settings.data_dir)) if self.settings.store else set()
        self.files = {i: ray.put(model_files(Path(m.source))) for i, m in self.models.items()
                      if i in own and isinstance(m, Card) and m.source and Path(m.source).is_file()}
        try:
            self.store = ray.get_actor(STORE_NAME, namespace=namespace)   # joined: its models are there
        except ValueError:
            cards, self.in_memory = self._models_for_the_store()
            self.store = JobStore.options(name=STORE_NAME, namespace=namespace, get_if_exists=True, lifetime=lifetime,
                                          max_restarts=-1, max_task_retries=-1, scheduling_strategy=here).remote(
                self.settings, cards, self.in_memory, self.files, *self._placement(), token, self.solver)
        created = ray.get(self.store.start.remote(token)) == token
        self.owner = created and not detached
        log("ray_jobs", store="created" if created else "joined", namespace=self.settings.ray_namespace,
            resources=ray.cluster_resources())

    def _models_for_the_store(self) -> tuple[dict, list]:
        """What the store is created with: (the cards, less their feature names, which a worker reads
        with the weights: small, they stay in Ray's record of the store's creation, which each restart
        runs again; [a reference to the models given in memory, or None]: Ray drops an actor's large
        arguments once it has started, so this front end puts them and holds the reference for the
        store's restarts)."""
        cards = {i: replace(m, feature_names=None) for i, m in self.models.items() if isinstance(m, Card)}
        models = {i: m if m.device.type == "cpu" else copy.deepcopy(m).cpu()   # a worker moves its copy
                  for i, m in self.models.items() if not isinstance(m, Card)}
        return cards, [ray.put(models) if models else None]

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

    def submit(self, task: str, model_id: str, model: Card, problem: Recipe, person: str = "local") -> Job:
        """Queue a recipe checked against the model's card (`tasks.check`); a worker builds its problem."""
        job = Job.checked(task, model_id, problem, batch_key(model, problem), person)
        answer = ray.get(self.store.submit.remote(job, problem))
        if answer == UNKNOWN_MODEL and model_id in self.files:   # added before the store restarted: again
            self._add(model_id)
            answer = ray.get(self.store.submit.remote(job, problem))
        if answer == UNKNOWN_MODEL:
            raise FieldError("model", f"model: {model_id!r} is not served by this cluster's job store (the "
                                      "models of the front end that created it are)")
        if answer is not None:
            raise QueueFull(answer)
        log("job_queued", id=job.id, task=task, model=model_id, steps=job.total)
        return job

    def add_model(self, model_id: str, model: Card) -> None:
        """Serve a model made at run time (its card's `source`, a file of this node): its files go to
        the object store, for the workers on nodes without that file; every worker loads it before it
        takes a job of it."""
        self.models = {**self.models, model_id: model}
        self.files[model_id] = ray.put(model_files(Path(model.source)))
        self._add(model_id)

    def _add(self, model_id: str) -> None:
        card = replace(self.models[model_id], feature_names=None)   # a worker reads them with the weights
        ray.get(self.store.add_model.remote(model_id, card, [self.files[model_id]]))

    def remove_model(self, model_id: str) -> None:
        """A model added at run time, deleted: the workers drop it; its queued jobs fail."""
        ray.get(self.store.remove_model.remote(model_id))
        self.models = {i: m for i, m in self.models.items() if i != model_id}
        self.files.pop(model_id, None)

    def palette(self, model_id: str, model: Card, size: int, stop: threading.Event, progress=None) -> list[dict]:
        """The model's palette entries (names, swatches, crops: `palette_entries`), made by a Ray task
        that loads the model: on a CPU (the workers hold the GPUs), computed swatches cached on disk
        where that task runs. Setting `stop` cancels it (PaletteCancelled); `progress` is not reported."""
        done = _palette.remote(self.models.get(model_id, model), size, [self.files.get(model_id)])
        while not ray.wait([done], timeout=0.2)[0]:
            if stop.is_set():
                ray.cancel(done, force=True)
                raise PaletteCancelled(f"palette of {model_id!r} cancelled")
        return ray.get(done)

    def get(self, job_id: str) -> Job | None:
        return ray.get(self.store.get.remote(job_id))

    def cancel(self, job_id: str) -> Job | None:
        return ray.get(self.store.cancel.remote(job_id))

    @contextmanager
    def watching(self, job: Job):
        """Ray workers make every job's previews (the job store keeps the latest)."""
        yield

    async def latest(self, job: Job) -> Job:
        return await self.store.get.remote(job.id) or job

    async def wait(self, job: Job) -> Job:
        while not job.terminal:
            state = await self.store.wait.remote(job.id)
            if state is None:   # expired: nothing more will change
                return job
            job = state
        return job

    def queued(self) -> int:
        return ray.get(self.store.counts.remote())[0]

    def running(self) -> int:
        return ray.get(self.store.counts.remote())[1]

    def stats(self) -> dict:
        return ray.get(self.store.stats.remote())

    def health(self) -> dict:
        """Queue, running and the parts: the job store (it may be restarting: then down) and the model
        workers (up while one at least has its models loaded; else why not)."""
        try:
            store = ray.get(self.store.health.remote(), timeout=HEALTH_TIMEOUT_S)
        except (GetTimeoutError, RayActorError) as e:
            down = f"no answer within {HEALTH_TIMEOUT_S:g} s ({type(e).__name__}): restarting, or lost"
            return {"queue": 0, "running": 0, "parts": {
                "job store": {"up": False, "detail": down},
                "model workers": {"up": False, "detail": "unknown while the job store does not answer"}}}
        workers = store["workers"]
        detail = f"{len(workers['up'])} of {workers['wanted']} up"
        if workers["starting"]:
            detail += f", {workers['starting']} starting"
        if workers["error"]:
            detail += f"; the last to start died: {workers['error']}"
        if workers["retry_in"] is not None:
            detail += f"; the next starts in {workers['retry_in']:.0f} s"
        return {"queue": store["queue"], "running": store["running"], "parts": {
            "job store": {"up": True, "detail": f"pid {store['pid']}"},
            "model workers": {"up": bool(workers["up"]), "detail": detail}}}

    def history(self) -> "StoreHistory":
        return StoreHistory(self.store)


class StoreHistory:
    """The job store's result store, read through its actor (`JobStore.history`): every front end,
    on any node and whatever its own data dir, serves the history the store saves on its node.
    Has the result store's methods that the routes call (store.HISTORY)."""

    def __init__(self, store):
        self._store = store

    def __getattr__(self, method: str):
        if method not in HISTORY:
            raise AttributeError(method)
        return lambda *args, **kwargs: ray.get(self._store.history.remote(method, *args, **kwargs))



@ray.remote(num_cpus=0)   # beside the workers, which hold every GPU (or their share of the cores)
def _palette(source: Card | RobustModel, size: int, files: list) -> list[dict]:
    """`files`: [a reference to the files of a person's model, for a node without them, or None]."""
    if not isinstance(source, Card):
        return palette_entries(source.for_serving(), size)
    with loadable(source.source, (lambda: ray.get(files[0])) if files[0] is not None else None) as path:
        return palette_entries(load_model(path, device="cpu").for_serving(), size)
