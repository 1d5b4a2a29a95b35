"""A person's own model over HTTP (issue 25): upload sets with their checks and limits, trainings
queued one at a time with their progress, cancel and 429, the model served without a restart and
used by translate, and DELETE /api/models/{id}. A tiny base model (a file) and a few small photos
per class, one or two epochs."""
import base64
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from server.api.app import create_app
from server.settings import Settings
from server.synthesis.own_models import STAGES
from tests.api_support import field_of, picture, read_events, wait_for, wait_status
from tests.own_support import photo_bytes, photos, save_base, upload

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def base_path(tmp_path_factory):
    return save_base(tmp_path_factory.mktemp("base"))


@contextmanager
def own_client(base_path, data_dir, **settings):
    app = create_app(Settings(**{"model_ids": (str(base_path),), "data_dir": data_dir, "warm_palettes": False,
                                 "palette_wait_s": 120, "device": "cpu", **settings}))
    with TestClient(app) as client:
        yield client


def wait_training(client, training_id: str, until=("done", "failed", "cancelled"), timeout: float = 120) -> dict:
    return wait_status(client, f"/api/trainings/{training_id}", until, timeout, every=0.1)


def test_uploads_check_every_photo_and_keep_class_names_as_names(base_path, tmp_path):
    with own_client(base_path, tmp_path / "data", max_upload_pixels=1000) as client:
        upload_id = client.post("/api/uploads").json()["id"]
        url = f"/api/uploads/{upload_id}/photos"
        assert field_of(client.post(url, json={"class": "cats", "photos": []})) == "photos"
        not_image = {"name": "notes.txt", "data": base64.b64encode(b"hello, not a photo").decode()}
        r = client.post(url, json={"class": "cats", "photos": [not_image]})
        assert field_of(r) == "photos" and "notes.txt" in r.json()["detail"][0]["msg"]
        truncated = photo_bytes("reds", 0, size=(20, 20))[:-40]
        r = client.post(url, json={"class": "cats", "photos": [{"name": "cut.png", "data": base64.b64encode(truncated).decode()}]})
        assert field_of(r) == "photos" and "cut.png" in r.json()["detail"][0]["msg"]
        r = client.post(url, json={"class": "cats", "photos": photos("reds", 2)})   # 40x48 > 1000 pixels
        assert field_of(r) == "photos" and "max_upload_pixels is 1000" in r.json()["detail"][0]["msg"]
        good = [{"name": "ok.png", "data": base64.b64encode(photo_bytes("reds", 1, size=(20, 20))).decode()}]
        assert field_of(client.post(url, json={"class": "../..", "photos": good})) == "class"
        # A refused request keeps nothing; a name with path characters stays a name inside the set.
        assert client.get(f"/api/uploads/{upload_id}").json()["classes"] == {}
        r = client.post(url, json={"class": "../../etc", "photos": good})
        assert r.status_code == 200 and r.json()["classes"] == {"etc": 1}
        data = tmp_path / "data"
        assert [p.name for p in (data / "uploads" / upload_id / "etc").iterdir()][0].endswith(".png")
        assert not (data / "etc").exists() and not (data / "uploads" / "etc").exists()
        assert client.post("/api/uploads/nope/photos", json={"class": "a", "photos": good}).status_code == 404
        assert client.post("/api/uploads/a..b/photos", json={"class": "a", "photos": good}).status_code == 404


def test_upload_sets_refuse_what_passes_their_file_and_byte_limits_with_413(base_path, tmp_path):
    size = len(photo_bytes("reds", 0))
    with own_client(base_path, tmp_path / "a", max_upload_files=8) as client:
        upload_id = upload(client, classes=("reds",), n=6)
        r = client.post(f"/api/uploads/{upload_id}/photos", json={"class": "blues", "photos": photos("blues", 3)})
        assert r.status_code == 413 and "max_upload_files is 8" in r.json()["detail"]
        assert client.get(f"/api/uploads/{upload_id}").json()["classes"] == {"reds": 6}
    with own_client(base_path, tmp_path / "b", max_upload_bytes=8 * size) as client:
        upload_id = upload(client, classes=("reds",), n=6)
        r = client.post(f"/api/uploads/{upload_id}/photos", json={"class": "blues", "photos": photos("blues", 6)})
        assert r.status_code == 413 and f"max_upload_bytes is {8 * size}" in r.json()["detail"]
        assert client.get(f"/api/uploads/{upload_id}").json()["files"] == 6
        assert client.delete(f"/api/uploads/{upload_id}").status_code == 204
        assert client.get(f"/api/uploads/{upload_id}").status_code == 404
        assert not (tmp_path / "b" / "uploads" / upload_id).exists()


def test_a_training_needs_two_classes_a_new_name_and_a_served_base(base_path, tmp_path):
    with own_client(base_path, tmp_path / "data") as client:
        one = upload(client, classes=("reds",))
        r = client.post("/api/trainings", json={"upload": one, "name": "mine"})
        assert field_of(r) == "upload" and "at least 2" in r.json()["detail"][0]["msg"]
        few = upload(client, n=3)
        assert "too few photos" in client.post("/api/trainings", json={"upload": few, "name": "mine"}).text
        assert field_of(client.post("/api/trainings", json={"upload": "nope", "name": "mine"})) == "upload"
        two = upload(client)
        assert field_of(client.post("/api/trainings", json={"upload": two, "name": "../.."})) == "name"
        assert field_of(client.post("/api/trainings", json={"upload": two, "name": "Base"})) == "name"   # served
        assert field_of(client.post("/api/trainings", json={"upload": two, "name": "base-x", "base": "nope"})) == "base"
        assert field_of(client.post("/api/trainings", json={"upload": two, "name": "x", "epochs": 101})) == "epochs"


def test_a_trained_model_is_served_at_once_translates_and_deletes_with_its_photos(base_path, tmp_path):
    data = tmp_path / "data"
    with own_client(base_path, data) as client:
        upload_id = upload(client)
        r = client.post("/api/trainings", json={"upload": upload_id, "name": "../My Colours", "epochs": 2})
        assert r.status_code == 202, r.text
        training = r.json()
        assert training["model"] == "my_colours" and training["status"] in ("queued", "running")
        events = read_events(client, training["events_url"])
        names = [name for name, _ in events]
        assert names[-1] == "done" and events[-1][1]["model"] == "my_colours", events[-1]
        assert names[0] == "progress"
        stages = [data["stage"] for name, data in events if data["stage"]]   # as sampled: in their order
        assert stages == sorted(stages, key=STAGES.index), stages
        done = events[-1][1]
        assert done["epoch"] == done["epochs"] == 2 and done["heldout_acc"] is not None and done["left_s"] == 0
        cards = {m["id"]: m for m in client.get("/api/models").json()}
        assert cards["my_colours"]["own"] and not cards["base"]["own"]
        assert cards["my_colours"]["classes"] == ["blues", "reds"]
        assert client.get("/api/health").json()["models"] == ["base"]   # no token there: a person's model is theirs
        assert (data / "models" / "my_colours" / "photos" / "reds").is_dir()
        assert client.get(f"/api/uploads/{upload_id}").status_code == 404     # its photos went with the model
        job = client.post("/api/tasks/translate", json={"model": "my_colours", "image": picture(), "class": "blues",
                                                        "steps": 3})
        assert job.status_code == 202, job.text
        assert wait_for(client, job.json()["id"])["status"] == "done"
        assert client.get("/api/models/my_colours/features").status_code == 200

        assert client.delete("/api/models/base").status_code == 403           # served from a file: not a person's
        assert client.delete("/api/models/cifar10-rn18h-l2").status_code == 403   # shipped
        assert client.delete("/api/models/my_colours").status_code == 204
        assert "my_colours" not in {m["id"] for m in client.get("/api/models").json()}
        assert not (data / "models" / "my_colours").exists()
        assert client.delete("/api/models/my_colours").status_code == 404
        r = client.post("/api/tasks/translate", json={"model": "my_colours", "image": picture(), "class": "blues"})
        assert field_of(r) == "model"


def test_trainings_run_one_at_a_time_queue_then_429_cancel_and_jobs_go_on(base_path, tmp_path):
    data = tmp_path / "data"
    with own_client(base_path, data, max_trainings_queued=1) as client:
        first = client.post("/api/trainings", json={"upload": upload(client), "name": "long", "epochs": 100}).json()
        second = client.post("/api/trainings", json={"upload": upload(client), "name": "next", "epochs": 1})
        assert second.status_code == 202 and second.json()["status"] == "queued" and second.json()["position"] == 1
        third = client.post("/api/trainings", json={"upload": upload(client), "name": "third", "epochs": 1})
        assert third.status_code == 429 and int(third.headers["Retry-After"]) > 0
        assert wait_training(client, first["id"], until=("running",))["status"] == "running"
        # Synthesis jobs are served while a training runs.
        job = client.post("/api/tasks/translate", json={"image": picture(), "class": "dog", "steps": 3}).json()
        assert wait_for(client, job["id"])["status"] == "done"
        assert wait_training(client, first["id"], until=("running",))["status"] == "running"
        assert client.post(f"/api/trainings/{second.json()['id']}/cancel").json()["status"] == "cancelled"
        assert client.post(f"/api/trainings/{first['id']}/cancel").status_code == 200
        ended = wait_training(client, first["id"], timeout=30)
        assert ended["status"] == "cancelled" and ended["epoch"] < 100
        assert {m["id"] for m in client.get("/api/models").json()} == {"base"}
        assert not (data / "models" / "long").exists() and not (data / "models" / ".training" / "long").exists()
        assert client.get("/api/trainings/nope").status_code == 404


def test_without_a_store_trainings_say_why_they_cannot_run(base_path, tmp_path):
    """(On Ray they run: tests/test_api_ray_own_models.py.)"""
    with own_client(base_path, tmp_path / "data", store=False) as client:
        r = client.post("/api/uploads")
        assert r.status_code == 404 and "--no-store" in r.json()["detail"]
        assert client.post("/api/trainings", json={"upload": "x", "name": "y"}).status_code == 404


@contextmanager
def as_person(client, token: str):
    """The client's requests, for a while, with this person's token."""
    client.headers["Authorization"] = f"Bearer {token}"
    try:
        yield client
    finally:
        del client.headers["Authorization"]


def test_uploads_trainings_and_models_are_their_person_s(base_path, tmp_path):
    """Issue 28 on issue 25's own models: another person's upload set, training and model answer as
    unknown ones (404, or 422 naming the field where a request names them); the shipped and served
    models stay everyone's; an admin sees and may delete all."""
    from server.store.sqlite import ResultStore
    data = tmp_path / "data"
    data.mkdir()
    people = ResultStore(data)
    ana, bo, root = people.add_person("ana"), people.add_person("bo"), people.add_person("root", admin=True)
    people.close()
    with own_client(base_path, data) as client:
        assert client.post("/api/uploads").status_code == 401
        with as_person(client, ana):
            upload_id = upload(client)
            training = client.post("/api/trainings", json={"upload": upload_id, "name": "anas", "epochs": 1}).json()
            assert training["owner"] == "ana"
            assert [name for name, _ in read_events(client, training["events_url"])][-1] == "done"
            other = upload(client, classes=("reds",))
            assert "anas" in {m["id"] for m in client.get("/api/models").json()}
            ticket = client.post(f"/api/trainings/{training['id']}/ticket").json()["ticket"]
        # a ticket opens that training's stream without a token, and nothing else
        assert client.get(f"{training['events_url']}?ticket={ticket}").status_code == 200
        assert client.get(f"/api/jobs/{training['id']}/events?ticket={ticket}").status_code == 401
        with as_person(client, bo):
            assert {m["id"] for m in client.get("/api/models").json()} == {"base"}   # served: everyone's
            for response in (client.get(f"/api/uploads/{other}"), client.delete(f"/api/uploads/{other}"),
                             client.post(f"/api/uploads/{other}/photos",
                                         json={"class": "x", "photos": photos("reds", 1)}),
                             client.get(f"/api/trainings/{training['id']}"),
                             client.post(f"/api/trainings/{training['id']}/cancel"),
                             client.post(f"/api/trainings/{training['id']}/ticket"),
                             client.get(f"/api/trainings/{training['id']}/events"),
                             client.get("/api/models/anas/features"), client.delete("/api/models/anas")):
                assert response.status_code == 404, response.text
            assert field_of(client.post("/api/tasks/translate", json={"model": "anas", "image": picture(),
                                                                      "class": "reds"})) == "model"
            assert field_of(client.post("/api/trainings", json={"upload": other, "name": "mine"})) == "upload"
            mine = upload(client)
            r = client.post("/api/trainings", json={"upload": mine, "name": "bos", "base": "anas"})
            assert field_of(r) == "base"
            assert client.get(f"/api/uploads/{mine}").status_code == 200
        with as_person(client, ana):
            assert client.get(f"/api/uploads/{mine}").status_code == 404
            assert client.get(f"/api/uploads/{other}").status_code == 200
        with as_person(client, root):
            assert {"base", "anas"} <= {m["id"] for m in client.get("/api/models").json()}
            assert client.get(f"/api/trainings/{training['id']}").json()["owner"] == "ana"
            assert client.delete(f"/api/uploads/{mine}").status_code == 204
            assert client.delete("/api/models/anas").status_code == 204
