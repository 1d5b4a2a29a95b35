"""A Ray model worker that cannot start (issue 27): no spinning, /api/health says why, and a queued
job gets an answer within the job time limit; the service comes back once the worker can start.

A local Ray with one CPU worker serving a tiny model from its file; the file is taken away, as on
a node that lacks it, and the worker killed.
"""
import os
import signal
import time

import pytest
from fastapi.testclient import TestClient

from server.api.app import create_app
from server.api.settings import Settings
from tests.api_support import picture, wait_for
from tests.conftest import make_tiny_model
from tests.model_support import save_model

ray = pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[test]' (or '.[ray]')")

NAMESPACE = "robust-canvas-faults-test"
JOB = {"class": "cat", "steps": 3, "image": picture()}


@pytest.fixture
def local_ray():
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False, namespace=NAMESPACE)
    yield
    ray.shutdown()


def store_health() -> dict:
    return ray.get(ray.get_actor("job-store", namespace=NAMESPACE).health.remote())


def test_a_worker_that_cannot_start_backs_off_says_why_and_its_jobs_get_an_answer(local_ray, tmp_path):
    weights = save_model(make_tiny_model(), tmp_path / "models")
    settings = Settings(model_ids=(str(weights),), ray="auto", ray_workers=1, ray_namespace=NAMESPACE,
                        job_timeout_s=3, warm_palettes=False)
    with TestClient(create_app(settings)) as client:
        assert client.post("/api/tasks/translate?wait=true", json=JOB).json()["status"] == "done"
        hidden = weights.rename(tmp_path / "elsewhere.safetensors")   # this node has lost the weights
        os.kill(next(iter(store_health()["workers"]["up"].values())), signal.SIGKILL)
        job_id = client.post("/api/tasks/translate", json=JOB).json()["id"]

        job = wait_for(client, job_id, timeout=15)
        assert job["status"] == "failed", job
        assert "no model worker could run the job for 3 s" in job["error"] and "FileNotFoundError" in job["error"]
        health = client.get("/api/health")
        assert health.status_code == 503 and health.json()["status"] == "unhealthy"
        workers = health.json()["parts"]["model workers"]
        assert not workers["up"] and "0 of 1 up" in workers["detail"] and "FileNotFoundError" in workers["detail"]
        assert health.json()["parts"]["job store"]["up"]
        assert store_health()["starts"] <= 5          # 1, 2, 4 s apart: not hundreds

        hidden.rename(weights)                          # back: the next start succeeds
        deadline = time.monotonic() + 30
        while client.get("/api/health").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert client.get("/api/health").json()["parts"]["model workers"]["detail"] == "1 of 1 up"
        assert client.post("/api/tasks/translate?wait=true", json=JOB).json()["status"] == "done"
