"""`make_manager`: the embedded job manager, or with `settings.ray` the Ray one (Ray is imported only then)."""
from ..settings import Settings
from ..synthesis.tasks import solve_batch
from .embedded import EmbeddedJobManager
from .manager import JobManager, Solver


def make_manager(settings: Settings, models: dict, solver: Solver | None = None, store=None) -> JobManager:
    """`solver` solves each batch (None: `solve_batch`); tests pass one that counts or fails solves.
    `store` (store.sqlite.ResultStore, or None) records jobs and results for the embedded manager; the
    Ray job store opens its own on `settings.data_dir`."""
    solver = solver or solve_batch
    if not settings.ray:
        return EmbeddedJobManager(settings, solver, store, models)
    from .ray.manager import RayJobManager   # imports Ray: only when asked for
    return RayJobManager(settings, models, solver)
