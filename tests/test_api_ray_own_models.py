"""A person's own model on a Ray server (issue 25): the same upload and training routes as the
embedded server, the training run on the cluster (an actor with a core of its own, never the front
end's process), and the model made served at once by every model worker, then deleted.

A local Ray with three logical CPUs (two model workers, one for the training), a tiny base model
(a file), a few small photos per class, two epochs; two people, whose uploads, trainings and models
are their own.
"""
import os
import time
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from server.api.app import create_app
from server.jobs.ray.files import loadable, model_files, read_folder, write_folder
from server.serving import load_served
from server.settings import Settings
from server.store.sqlite import ResultStore
from server.synthesis.models.loading import load_model
from server.synthesis.own_models import STAGES
from tests.api_support import field_of, picture, read_events, wait_for, wait_status
from tests.conftest import make_tiny_model
from tests.model_support import save_model
from tests.own_support import save_base, upload

ray = pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[test]' (or '.[ray]')")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
NAMESPACE = "robust-canvas-own-test"
LONG = {"class": "reds", "steps": 1000, "eps": 100.0, "patience": 0}   # runs for seconds, never batched


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    store = ResultStore(data)
    tokens = {"ana": store.add_person("ana"), "bo": store.add_person("bo")}
    store.close()
    return data, tokens


@pytest.fixture(scope="module")
def client(tmp_path_factory, people):
    data, tokens = people
    base = save_base(tmp_path_factory.mktemp("base"))
    # "local": a Ray of its own; 2 workers of 1 core and a training of 1
    ray.init(address="local", num_cpus=3, include_dashboard=False, log_to_driver=False, namespace=NAMESPACE)
    try:
        settings = Settings(model_ids=(str(base),), data_dir=data, ray="auto", ray_workers=2, ray_training_cpus=1,
                            ray_namespace=NAMESPACE, max_trainings_queued=1, max_steps=1000, warm_palettes=False,
                            palette_wait_s=120)
        with TestClient(create_app(settings)) as client:
            client.headers["Authorization"] = f"Bearer {tokens['ana']}"
            yield client
    finally:
        ray.shutdown()


@pytest.fixture
def not_here(monkeypatch):
    """The front end's process must not train: a training in its thread (`make_here`) fails."""
    def refuse(*args, **kwargs):
        raise AssertionError("the front end trained a model itself")
    monkeypatch.setattr("server.jobs.trainings.make_own_model", refuse)


@contextmanager
def as_person(client, token: str):
    before = client.headers["Authorization"]
    client.headers["Authorization"] = f"Bearer {token}"
    try:
        yield client
    finally:
        client.headers["Authorization"] = before


def store_job(job_id: str):
    return ray.get(ray.get_actor("job-store", namespace=NAMESPACE).get.remote(job_id))


def past_step(client, url: str, step: int, timeout: float = 120) -> dict:
    """The job or training at `url` once it runs beyond `step` (or has ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.get(url).json()
        if found["status"] not in ("queued", "running") or found["step"] > step:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{url} did not get past step {step}: {found}")


def test_a_model_trained_on_the_cluster_is_served_by_every_worker_and_deleted(client, people, not_here):
    data, tokens = people
    upload_id = upload(client)
    r = client.post("/api/trainings", json={"upload": upload_id, "name": "Colours", "epochs": 2})
    assert r.status_code == 202, r.text
    training = r.json()
    assert training["model"] == "colours" and training["owner"] == "ana"
    events = read_events(client, training["events_url"])
    assert events[-1][0] == "done", events[-1][1]["error"]
    stages = [d["stage"] for name, d in events if d["stage"]]
    assert stages == sorted(stages, key=STAGES.index) and stages[-1] == STAGES[-1], stages
    assert events[-1][1]["epoch"] == 2 and events[-1][1]["heldout_acc"] is not None   # as relayed
    # Published whole in the front end's data dir, its photos moved in, no upload set left.
    folder = data / "models" / "colours"
    assert (folder / "colours.safetensors").is_file() and (folder / "photos" / "reds").is_dir()
    assert not (data / "uploads" / upload_id).exists() and not (data / "models" / ".training" / "colours").exists()
    assert client.get(f"/api/uploads/{upload_id}").status_code == 404

    cards = {m["id"]: m for m in client.get("/api/models").json()}
    assert cards["colours"]["own"] and cards["colours"]["classes"] == ["blues", "reds"]
    # Every worker has it: two jobs of it, of two batch keys, run at once on the two workers.
    first = client.post("/api/tasks/translate", json={**LONG, "model": "colours", "image": picture(seed=1)}).json()
    second = client.post("/api/tasks/translate", json={**LONG, "model": "colours", "image": picture(seed=2),
                                                      "steps": 999}).json()
    for job in (first, second):
        assert past_step(client, f"/api/jobs/{job['id']}", 1)["status"] == "running"
    assert store_job(first["id"]).worker != store_job(second["id"]).worker
    client.post(f"/api/jobs/{second['id']}/cancel")
    assert wait_for(client, second["id"])["status"] == "cancelled"
    # The job store dies: Ray restarts it with its creation's models. The running job of the new model
    # waits for it, and the front end adds it again with its next job of it: both run.
    ray.kill(ray.get_actor("job-store", namespace=NAMESPACE), no_restart=False)
    job = client.post("/api/tasks/translate?wait=true", json={"model": "colours", "image": picture(), "class": "blues",
                                                             "steps": 3}).json()
    assert job["status"] == "done", job
    assert past_step(client, f"/api/jobs/{first['id']}", 1)["status"] == "running"
    assert store_job(first["id"]).attempts == 2
    client.post(f"/api/jobs/{first['id']}/cancel")
    assert wait_for(client, first["id"])["status"] == "cancelled"
    assert client.get("/api/models/colours/features").status_code == 200   # a palette task loads it too

    with as_person(client, tokens["bo"]):   # another person's: unknown
        assert "colours" not in {m["id"] for m in client.get("/api/models").json()}
        assert client.get(f"/api/trainings/{training['id']}").status_code == 404
        assert client.delete("/api/models/colours").status_code == 404
        assert field_of(client.post("/api/tasks/translate", json={"model": "colours", "image": picture(),
                                                                  "class": "reds"})) == "model"

    assert client.delete("/api/models/colours").status_code == 204
    assert "colours" not in {m["id"] for m in client.get("/api/models").json()}
    assert not folder.exists()
    assert field_of(client.post("/api/tasks/translate", json={"model": "colours", "image": picture(),
                                                              "class": "reds"})) == "model"


def test_trainings_queue_then_429_and_cancel_stops_the_cluster_s_training(client, people, not_here):
    data, _ = people
    first = client.post("/api/trainings", json={"upload": upload(client), "name": "long", "epochs": 100}).json()
    kept = upload(client)
    second = client.post("/api/trainings", json={"upload": kept, "name": "next", "epochs": 1})
    assert second.status_code == 202 and second.json()["status"] == "queued" and second.json()["position"] == 1
    third = client.post("/api/trainings", json={"upload": upload(client), "name": "third", "epochs": 1})
    assert third.status_code == 429 and int(third.headers["Retry-After"]) > 0
    assert client.post(f"/api/trainings/{second.json()['id']}/cancel").json()["status"] == "cancelled"
    # Running on the cluster: its steps come back to the front end.
    url = f"/api/trainings/{first['id']}"
    view = past_step(client, url, 0, timeout=300)   # the trainer starts in its own process (slow on a busy machine)
    assert view["status"] == "running" and view["stage"] == "training", view
    # Each finished epoch's checkpoint comes back to the front end's staging folder (for a resume).
    checkpoint = data / "models" / ".training" / "long" / "checkpoint.pt"
    deadline = time.monotonic() + 60
    while not checkpoint.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert checkpoint.is_file(), client.get(url).json()
    assert client.post(f"{url}/cancel").status_code == 200
    ended = wait_status(client, url, ("done", "failed", "cancelled"), 30, every=0.1)
    assert ended["status"] == "cancelled" and ended["epoch"] < 100, ended
    assert "long" not in {m["id"] for m in client.get("/api/models").json()}
    assert not (data / "models" / "long").exists() and not (data / "models" / ".training" / "long").exists()
    assert client.get(f"/api/uploads/{kept}").json()["classes"] == {"blues": 6, "reds": 6}   # photos stay
    deadline = time.monotonic() + 30   # the trainer's core is free again
    while ray.available_resources().get("CPU", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ray.available_resources().get("CPU", 0) >= 1


def test_a_node_without_the_model_s_file_loads_a_copy_of_its_files(tmp_path):
    """What a worker or palette task does on a node that lacks the front end's data dir."""
    weights = save_model(make_tiny_model(), tmp_path / "there")
    files = model_files(weights)
    assert set(files) == {weights.name, weights.with_suffix(".json").name}
    elsewhere = str(tmp_path / "gone" / weights.name)   # the card's source, on another node
    with loadable(elsewhere, lambda: files) as copy:
        assert copy != elsewhere and load_model(copy, device="cpu").meta.id == "tiny"
    assert not os.path.exists(copy) and not (tmp_path / "gone").exists()   # the copy is removed
    with loadable(str(weights), lambda: pytest.fail("fetched a file that is here")) as path:
        assert path == str(weights)
    with pytest.raises(ValueError):
        write_folder({"../out.txt": b"x"}, tmp_path / "inside")
    assert read_folder(tmp_path / "there") == files


def test_a_ray_front_end_holds_a_person_s_model_by_its_file(tmp_path):
    """A front end started on a data dir with a person's model serves it from its file (a worker,
    whatever its own default data dir, finds it there, or gets its files), as the embedded one does."""
    data = tmp_path / "data"
    tiny = make_tiny_model()
    tiny.meta.id = "mine"
    weights = save_model(tiny, data / "models" / "mine")
    served = load_served(Settings(ray="auto", data_dir=data, model_ids=(str(save_base(tmp_path)), "mine")))
    assert served["mine"].source == str(weights)
