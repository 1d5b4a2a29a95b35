"""`make_manager`: the embedded job manager, or with `settings.ray` the Ray one; `make_training`: where
a person's training runs, in this process or on the Ray cluster (Ray is imported only with `ray`)."""
from typing import Callable

from ..settings import Settings
from ..synthesis.tasks import solve_batch
from .embedded import EmbeddedJobManager
from .manager import JobManager, Solver
from .trainings import make_here


def make_manager(settings: Settings, models: dict, solver: Solver | None = None, store=None) -> JobManager:
    """`solver` solves each batch (None: `solve_batch`); tests pass one that counts or fails solves.
    `store` (store.sqlite.ResultStore, or None) records jobs and results for the embedded manager; the
    Ray job store opens its own on `settings.data_dir`."""
    solver = solver or solve_batch
    if not settings.ray:
        return EmbeddedJobManager(settings, solver, store, models)
    from .ray.manager import RayJobManager   # imports Ray: only when asked for
    return RayJobManager(settings, models, solver)


def make_training(settings: Settings) -> Callable:
    """`TrainingRunner`'s `make`: in the runner's thread, or with Ray in an actor of the cluster."""
    if not settings.ray:
        return make_here
    from .ray.training import RayTraining   # imports Ray: only when asked for
    return RayTraining(settings)
