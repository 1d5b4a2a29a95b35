"""`JobManager`: the interface the routes use, implemented by the embedded manager (threads in the
server process, `embedded.py`) and the Ray one (`ray/manager.py`); `factory.make_manager` picks one.

Every `Job` a manager returns is a copy of its record, as it was at the call (`Job.copy`).
"""
from contextlib import AbstractContextManager
from typing import Callable, Protocol

from ..synthesis.recipes import Recipe
from ..synthesis.tasks import TaskRun
from .record import Job

# solve_batch's signature: (model, problems, callbacks) -> results; the managers take another for tests
Solver = Callable[[object, list, list], list]


class JobManager(Protocol):
    def start(self, devices: list[str]) -> None:
        """Start the workers, for these devices (the served models' devices)."""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers; jobs not ended stop too (with a result store, they stay open there, and
        the next start on the data dir runs them again)."""

    def submit(self, task: str, model_id: str, model, problem: TaskRun | Recipe, person: str = "local") -> Job:
        """Queue a job of `person` (store.people.Person.name); QueueFull (rules.py) when the queue is
        full, or they have queued their share of it. The embedded manager takes a
        built problem and its model; the Ray one a recipe checked against the model's card
        (`tasks.check`) with the card, and its workers build the problem."""

    def add_model(self, model_id: str, model) -> None:
        """Serve a model made while the server runs (a person's training): the embedded manager takes
        the model (to rebuild its jobs after a restart), the Ray one its card (`loading.Card`, whose
        source is a file of this node), whose files every worker then loads."""

    def remove_model(self, model_id: str) -> None:
        """A model added by `add_model`, deleted: served no more (jobs running on it finish)."""

    def get(self, job_id: str) -> Job | None:
        """The job, or None: unknown, or ended more than `job_ttl_s` ago."""

    def cancel(self, job_id: str) -> Job | None:
        """A queued job is cancelled now, a running one within a step or two; an ended one is left."""

    def watching(self, job: Job) -> AbstractContextManager:
        """While an event stream follows the job (previews may be made only then)."""

    async def latest(self, job: Job) -> Job:
        """The job as it is now, without blocking the event loop (`job` itself once it has expired)."""

    async def wait(self, job: Job) -> Job:
        """The job once it has ended (or expired), without holding a thread."""

    def queued(self) -> int:
        """Jobs waiting for a worker."""

    def running(self) -> int:
        """Jobs being solved."""

    def stats(self) -> dict:
        """{"batches": optimizer runs, "jobs": the jobs in them} since the start."""

    def health(self) -> dict:
        """{"queue": queued(), "running": running(), "parts": {name: {"up": bool, "detail": str}}}: the
        parts that run jobs (GET /api/health is unhealthy when one is down); answers within seconds."""
