"""The job managers' shared interface (server/jobs/manager.py), on the embedded manager.

The routes' behaviour is tested through the API (test_api_*.py, and test_api_ray.py for the Ray
manager); here what the API does not show: previews are made only for watched jobs, and a job
is handed out as a copy.
"""
import asyncio
import threading
import time

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


@pytest.mark.parametrize("fair", [True, False])
def test_a_single_image_does_not_wait_for_another_persons_long_batch(fair):
    """Ana's long job is running when Bo's short one comes: with fair share Bo's runs at once and is
    done while Ana's is still running; first come, first served, Bo waits for Ana's to end."""
    model = tiny_with_seeds()

    def slow(m, problems, callbacks):   # 20 ms a step, so that Ana's job takes seconds
        def slowed(cb):
            return lambda progress: time.sleep(0.02) or cb(progress)
        return solve_batch(m, problems, [slowed(cb) for cb in callbacks])

    manager = make_manager(Settings(warm_palettes=False, fair_share=fair), {"tiny": model}, solver=slow)
    manager.start([str(model.device)])
    try:
        ana = manager.submit("generate", "tiny", model, tasks.build(model, "generate", class_="cat", steps=150),
                             person="ana")
        while manager.get(ana.id).step < 2:
            time.sleep(0.01)
        bo = asyncio.run(manager.wait(submit(manager, model, steps=5)))
        ana_then = manager.get(ana.id)
        assert bo.status == "done"
        assert (ana_then.status == "running") == fair
        if fair:
            assert 2 <= ana_then.step < 150
            assert asyncio.run(manager.wait(ana_then)).status == "done"   # and it finishes after the pause
    finally:
        manager.stop()
