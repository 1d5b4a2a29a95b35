"""`make_manager`: the embedded job manager, or with `settings.ray` the Ray one (Ray is imported only then)."""
from ..api.settings import Settings
from ..synthesis.tasks import solve_batch
from .embedded import EmbeddedJobManager
from .manager import JobManager, Solver


def make_manager(settings: Settings, models: dict, solver: Solver | None = None) -> JobManager:
    """`solver` solves each batch (None: `solve_batch`); tests pass one that counts or fails solves."""
    solver = solver or solve_batch
    if not settings.ray:
        return EmbeddedJobManager(settings, solver)
    from .ray.manager import RayJobManager   # imports Ray: only when asked for
    return RayJobManager(settings, models, solver)
