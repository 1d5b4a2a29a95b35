"""The job managers' shared interface (server/jobs/manager.py), on the embedded manager.

The routes' behaviour is tested through the API (test_api_*.py, and test_api_ray.py for the Ray
manager); here what the API does not show: previews are made only for watched jobs, and a job
is handed out as a copy.
"""
import asyncio
import threading

import pytest

from server.settings import Settings
from server.jobs.factory import make_manager
from server.synthesis import tasks
from server.synthesis.tasks import solve_batch
from tests.api_support import tiny_with_seeds


@pytest.fixture
def gated_manager():
    """An embedded manager whose solves wait for `go` (set it once the job is watched): (manager, go, model)."""
    model, go = tiny_with_seeds(), threading.Event()

    def gated(m, problems, callbacks):
        assert go.wait(30), "the test never let the solve start"
        return solve_batch(m, problems, callbacks)

    manager = make_manager(Settings(warm_palettes=False), {"tiny": model}, solver=gated)
    manager.start([str(model.device)])
    yield manager, go, model
    go.set()
    manager.stop()


def submit(manager, model, steps: int = 12):
    return manager.submit("generate", "tiny", model, tasks.build(model, "generate", class_="cat", steps=steps))


def test_previews_are_made_only_while_someone_streams_the_job(gated_manager):
    """A job nobody watches (a client waiting for the result) costs its worker no preview PNGs."""
    manager, go, model = gated_manager
    watched = submit(manager, model)
    with manager.watching(watched):
        go.set()
        watched = asyncio.run(manager.wait(watched))
    unwatched = asyncio.run(manager.wait(submit(manager, model)))
    assert watched.status == unwatched.status == "done"
    assert watched.preview["step"] == 10 and watched.preview["image"].startswith("data:image/png")
    assert unwatched.preview is None


def test_a_job_is_handed_out_as_a_copy(gated_manager):
    manager, go, model = gated_manager
    queued = submit(manager, model)
    assert queued.status == "queued" and manager.queued() + manager.running() == 1
    go.set()
    done = asyncio.run(manager.wait(queued))
    assert queued.status == "queued" and done.status == "done" and done.step == 12
    assert manager.get(queued.id).view() == done.view() and manager.get(queued.id) is not done
    assert asyncio.run(manager.latest(queued)).status == "done"
    assert manager.stats() == {"batches": 1, "jobs": 1}


def test_both_managers_implement_the_interface():
    """Every method of `JobManager`, with its parameters, in both managers (Ray's only where Ray is installed)."""
    import inspect

    from server.jobs.embedded import EmbeddedJobManager
    from server.jobs.manager import JobManager
    managers = [EmbeddedJobManager]
    try:
        from server.jobs.ray.manager import RayJobManager
        managers.append(RayJobManager)
    except ImportError:
        pass
    methods = [name for name, _ in inspect.getmembers(JobManager, inspect.isfunction) if not name.startswith("_")]
    assert {"submit", "get", "cancel", "wait", "latest", "watching"} <= set(methods)
    for manager in managers:
        for name in methods:
            expected = inspect.signature(getattr(JobManager, name)).parameters
            got = inspect.signature(getattr(manager, name)).parameters
            assert list(got) == list(expected), (manager.__name__, name)
            assert inspect.iscoroutinefunction(getattr(manager, name)) == \
                inspect.iscoroutinefunction(getattr(JobManager, name)), (manager.__name__, name)
