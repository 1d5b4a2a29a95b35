"""Ray model workers that cannot start, or whose node is lost (issue 27): no spinning, /api/health
says why, a queued job gets an answer within the job time limit, and the service comes back.

One CPU worker serving a tiny model from its file: on a local Ray, the file taken away (as on a
node that lacks it) and the worker killed; on a cluster of two local nodes, the worker's node lost.
"""
import os
import signal
import time

import pytest
from fastapi.testclient import TestClient

from server.api.app import create_app
from server.settings import Settings
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


def healthy(client, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (health := client.get("/api/health")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert health.status_code == 200, health.json()
    return health.json()


def unhealthy(client, why: str = "", timeout: float = 60) -> dict:
    """/api/health once it is 503 with `why` in the workers' detail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = client.get("/api/health")
        if health.status_code == 503 and why in health.json()["parts"]["model workers"]["detail"]:
            return health.json()
        time.sleep(0.2)
    raise AssertionError(f"still {health.json()}")


def test_a_worker_that_cannot_start_backs_off_says_why_and_its_jobs_get_an_answer(local_ray, tmp_path):
    weights = save_model(make_tiny_model(), tmp_path / "models")
    settings = Settings(model_ids=(str(weights),), ray="auto", ray_workers=1, ray_namespace=NAMESPACE,
                        job_timeout_s=3, warm_palettes=False)
    with TestClient(create_app(settings)) as client:
        healthy(client)   # the worker has loaded its model (before that, a queued job would wait 3 s at most)
        assert client.post("/api/tasks/translate?wait=true", json=JOB).json()["status"] == "done"
        hidden = weights.rename(tmp_path / "elsewhere.safetensors")   # this node has lost the weights
        os.kill(next(iter(store_health()["workers"]["up"].values())), signal.SIGKILL)

        health = unhealthy(client, "the next starts in")   # after a pause: 1, 2, 4 ... s
        assert health["status"] == "unhealthy" and health["parts"]["job store"]["up"]
        workers = health["parts"]["model workers"]
        assert not workers["up"] and workers["detail"].startswith("0 of 1 up")
        assert "the last to start died: FileNotFoundError" in workers["detail"]
        job_id = client.post("/api/tasks/translate", json=JOB).json()["id"]
        job = wait_for(client, job_id, timeout=15)
        assert job["status"] == "failed", job
        assert "no model worker could run the job for 3 s" in job["error"] and "FileNotFoundError" in job["error"]
        assert store_health()["starts"] <= 6          # the first, and a few more, not one after another

        hidden.rename(weights)                          # back: the next start succeeds
        assert healthy(client)["parts"]["model workers"]["detail"] == "1 of 1 up"
        assert client.post("/api/tasks/translate?wait=true", json=JOB).json()["status"] == "done"


@pytest.fixture
def two_nodes():
    """A head node without cores (the front end, the job store) and a worker node with one."""
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_a_lost_worker_node_loses_no_job(two_nodes, tmp_path):
    node = two_nodes.add_node(num_cpus=1)
    weights = save_model(make_tiny_model(), tmp_path / "models")
    settings = Settings(model_ids=(str(weights),), ray=two_nodes.address, ray_workers=1, ray_namespace=NAMESPACE,
                        warm_palettes=False)
    with TestClient(create_app(settings)) as client:
        healthy(client)
        job_id = client.post("/api/tasks/translate", json={**JOB, "steps": 1000, "eps": 100.0, "patience": 0}).json()["id"]
        while client.get(f"/api/jobs/{job_id}").json()["step"] < 2:
            time.sleep(0.05)
        two_nodes.remove_node(node)
        assert unhealthy(client, "0 of 1 up")["parts"]["job store"]["up"]
        assert client.get(f"/api/jobs/{job_id}").json()["status"] == "queued"   # again, first in line
        two_nodes.add_node(num_cpus=1)                                         # a node with room: a worker starts
        job = wait_for(client, job_id, timeout=120)
        assert job["status"] == "done", job
        assert healthy(client)["parts"]["model workers"]["detail"] == "1 of 1 up"
