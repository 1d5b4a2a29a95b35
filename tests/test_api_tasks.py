"""The REST API end to end on tiny models with a real worker thread: tasks, SSE, cancel, batching."""
import time

import pytest
import torch

from server.synthesis.tasks import solve_batch
from tests.api_support import (api_client, decode, picture, read_events, square_mask, tiny_with_seeds, wait_for,
                               wait_running)
from tests.conftest import count_passes, make_tiny_model

FEW = {"steps": 3}


@pytest.fixture(scope="module")
def client():
    with api_client() as c:
        yield c


@pytest.fixture(autouse=True)
def palette_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_CANVAS_CACHE", str(tmp_path))


def run(client, task: str, body: dict) -> dict:
    response = client.post(f"/api/tasks/{task}?wait=true", json={**FEW, **body})
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "done", job
    return job["result"]


def test_health_and_model_cards(client):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["device"] == "cpu" and health["models"] == ["tiny", "plain"]
    cards = client.get("/api/models").json()
    assert [(c["id"], c["default"]) for c in cards] == [("tiny", True), ("plain", False)]
    assert cards[0]["classes"][3] == "cat" and cards[0]["input_size"] == 32 and cards[0]["num_features"] > 0
    # The settings a job gets when it leaves them out, so a client can show them.
    defaults = cards[0]["task_defaults"]
    assert set(defaults) == {"generate", "translate", "inpaint", "superresolve", "sketch", "paint"}
    assert all(d["steps"] > 0 and d["step_size"] > 0 for d in defaults.values())


def test_generate_makes_n_images_of_the_class_size(client):
    result = run(client, "generate", {"class": "dog", "n": 2})
    assert len(result["images"]) == 2 and (result["width"], result["height"]) == (32, 32)
    assert len(result["classes"]) == len(result["class_names"]) == len(result["scores"]) == 2
    assert result["class_names"][0] in client.get("/api/models").json()[0]["classes"]


@pytest.mark.parametrize("task, body, size", [
    ("translate", {"class": "cat"}, (32, 32)),
    ("sketch", {"class": 7}, (32, 32)),
    ("inpaint", {"mask": square_mask()}, (32, 32)),
    ("inpaint", {"mask": square_mask(), "class": "ship"}, (32, 32)),
    ("superresolve", {"factor": 2}, (64, 64)),
    ("paint", {"mask": square_mask(), "feature": 5}, (32, 32)),
])
def test_every_image_task_answers_with_an_image(client, task, body, size):
    result = run(client, task, {"image": picture(), **body})
    assert len(result["images"]) == 1 and (result["width"], result["height"]) == size
    assert result["images"][0].startswith("data:image/png;base64,")


def test_inpaint_keeps_the_pixels_outside_the_mask(client):
    """An 8-bit PNG goes in and comes out exactly: every pixel outside the hole is the input's, to the bit,
    and the hole (the left half) is repainted."""
    source = picture(seed=3)
    result = run(client, "inpaint", {"image": source, "mask": square_mask(box=(0, 0, 16, 32)), "steps": 20})
    before, after = decode(source).view(32, 32, 3), decode(result["images"][0]).view(32, 32, 3)
    assert (result["width"], result["height"]) == (32, 32)
    assert torch.equal(after[:, 16:], before[:, 16:]), "a pixel outside the mask changed"
    changed = (after[:, :16] != before[:, :16]).any(-1).float().mean()
    assert changed > 0.9 and (after[:, :16] - before[:, :16]).abs().float().mean() > 20, "the hole was not repainted"


def test_inpaint_says_when_the_model_is_unsure_of_its_own_class(client):
    """No class and min_confidence 1: the model is never that sure, so the hole is the fill alone and
    the result says so; with a class given nothing is said."""
    source, mask = picture(seed=3), square_mask(box=(0, 0, 16, 32))
    unsure = run(client, "inpaint", {"image": source, "mask": mask, "min_confidence": 1.0})
    assert unsure["notes"][0].startswith("class: none (the model is unsure") and "fill only" in unsure["notes"][0]
    given = run(client, "inpaint", {"image": source, "mask": mask, "min_confidence": 1.0, "class": "cat"})
    assert given["notes"] == [""]
    assert decode(unsure["images"][0]).tolist() != decode(given["images"][0]).tolist()


def test_a_seed_makes_results_repeatable(client):
    body = {"class": "cat", "seed": 7}
    assert run(client, "generate", body)["images"] == run(client, "generate", body)["images"]
    assert run(client, "generate", body)["images"] != run(client, "generate", {**body, "seed": 8})["images"]


def test_sse_streams_every_step_previews_then_the_finished_job(client):
    blocker = client.post("/api/tasks/sketch", json={"image": picture(), "class": 1, "steps": 1000}).json()
    wait_running(client, blocker["id"])
    started = client.post("/api/tasks/sketch", json={"image": picture(), "class": "cat", "steps": 60})
    assert started.status_code == 202
    job = started.json()
    assert job["status_url"] == f"/api/jobs/{job['id']}" and job["events_url"] == f"/api/jobs/{job['id']}/events"
    # the job starts once the stream listens
    events = read_events(client, job["events_url"], on_open=lambda: client.post(f"/api/jobs/{blocker['id']}/cancel"))
    steps = [data["step"] for name, data in events if name == "progress"]
    assert steps == list(range(61)) and all(d["total"] == 60 for n, d in events if n == "progress")
    previews = [data for name, data in events if name == "preview"]
    assert previews and all(p["image"].startswith("data:image/png") and p["step"] % 5 == 0 for p in previews)
    name, final = events[-1]
    assert name == "done" and final["status"] == "done" and len(final["result"]["images"]) == 1


def test_cancel_stops_a_running_job_within_a_step(client):
    job = client.post("/api/tasks/sketch", json={"image": picture(), "class": "cat", "steps": 1000}).json()
    assert wait_running(client, job["id"])["status"] == "running"
    cancelling = client.post(f"/api/jobs/{job['id']}/cancel")
    assert cancelling.status_code == 200
    final = wait_for(client, job["id"], timeout=10)
    assert final["status"] == "cancelled" and final["step"] <= cancelling.json()["step"] + 1
    assert read_events(client, f"/api/jobs/{job['id']}/events")[-1][0] == "cancelled"


def test_cancel_a_queued_job_before_it_runs(client):
    blocker = client.post("/api/tasks/sketch", json={"image": picture(), "class": 1, "steps": 1000}).json()
    queued = client.post("/api/tasks/generate", json={"class": "cat"}).json()
    assert client.post(f"/api/jobs/{queued['id']}/cancel").json()["status"] == "cancelled"
    client.post(f"/api/jobs/{blocker['id']}/cancel")
    assert wait_for(client, queued["id"])["step"] == 0


def test_concurrent_compatible_jobs_share_one_solve_and_get_their_own_results():
    calls = []   # jobs per solver call

    def counting(model, problems, callbacks):
        calls.append(len(problems))
        return solve_batch(model, problems, callbacks)

    with api_client(solver=counting) as client:
        alone = [run(client, "sketch", {"image": picture(seed=s), "class": c, "steps": 8})
                 for s, c in ((1, "cat"), (2, "dog"))]
        blocker = client.post("/api/tasks/translate", json={"image": picture(), "class": 1, "steps": 1000,
                                                             "patience": 0}).json()
        wait_running(client, blocker["id"])
        jobs = [client.post("/api/tasks/sketch", json={"image": picture(seed=s), "class": c, "steps": 8}).json()
                for s, c in ((1, "cat"), (2, "dog"))]
        client.post(f"/api/jobs/{blocker['id']}/cancel")
        together = [wait_for(client, j["id"])["result"] for j in jobs]
    assert calls == [1, 1, 1, 2]   # each sketch alone, the blocker alone, then both sketches in one batch
    for a, b in zip(alone, together):
        assert (decode(a["images"][0]) - decode(b["images"][0])).abs().max() <= 1
        assert a["classes"] == b["classes"]


def _tiny_models() -> dict:
    return {"tiny": tiny_with_seeds(), "plain": make_tiny_model(1)}


def test_feature_palette_has_one_swatch_per_feature_and_is_computed_once(tmp_path):
    models = _tiny_models()
    passes = count_passes(models["tiny"])
    with api_client(models) as client:
        features = client.get("/api/models/tiny/features")
        assert features.status_code == 200
        items = features.json()
        assert [f["index"] for f in items] == list(range(client.get("/api/models").json()[0]["num_features"]))
        assert items[0]["thumbnail"].startswith("data:image/png;base64,")
        assert passes                                   # computed by the first request
        for cached in tmp_path.rglob("*.safetensors"):  # only the server's memory can answer now
            cached.unlink()
        computed = len(passes)
        assert client.get("/api/models/tiny/features").json() == items
        assert len(passes) == computed                  # computed once, kept in memory
        assert client.get("/api/models/nope/features").status_code == 404


def test_palettes_are_computed_in_the_background_at_start_up(tmp_path):
    """No first request waits for a palette: the server computes each model's while it idles."""
    models, order = _tiny_models(), []
    passes = {model_id: count_passes(m) for model_id, m in models.items()}
    for model_id, m in models.items():
        outputs = m.outputs
        m.outputs = lambda x, model_id=model_id, outputs=outputs: (order.append(model_id) if model_id not in order
                                                                  else None) or outputs(x)
    with api_client(models, warm_palettes=True) as c:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.rglob("*.safetensors"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert order == ["tiny", "plain"]               # one after another, before any request
        computed = len(passes["plain"])
        items = c.get("/api/models/plain/features").json()
        assert len(items) == models["plain"].meta.num_features
        assert len(passes["plain"]) == computed         # the request found it computed


def test_health_answers_while_a_job_runs(client):
    job = client.post("/api/tasks/sketch", json={"image": picture(), "class": "cat", "steps": 1000}).json()
    wait_running(client, job["id"])
    assert client.get("/api/health").json()["running"] == 1   # answered while the job runs
    client.post(f"/api/jobs/{job['id']}/cancel")
    wait_for(client, job["id"])


def test_stopping_while_a_palette_is_computed_ends_cleanly(tmp_path):
    """Shutdown stops the background palette within a step and waits for it: torch work left
    running in a thread at interpreter exit aborts the process ('terminate called ...')."""
    import subprocess
    import sys
    script = (
        "import os, pathlib, threading, time\n"
        "from tests.api_support import api_client\n"
        "from tests.conftest import make_tiny_model\n"
        "m = make_tiny_model()\n"
        "m.meta.input_size = 128\n"
        "started, outputs = threading.Event(), m.outputs\n"
        "def slow(x):  # every pass 0.2 s: the palette's 17 passes cannot be done when shutdown begins\n"
        "    started.set()\n"
        "    time.sleep(0.2)\n"
        "    return outputs(x)\n"
        "m.outputs = slow\n"
        "with api_client({'tiny': m}, warm_palettes=True) as c:\n"
        "    assert started.wait(60)  # the background palette is computing\n"
        "    assert not list(pathlib.Path(os.environ['ROBUST_CANVAS_CACHE']).rglob('*.safetensors'))\n"
        "print('stopped')\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "ROBUST_CANVAS_CACHE": str(tmp_path)})
    assert proc.returncode == 0 and "stopped" in proc.stdout, proc.stderr
    assert not list(tmp_path.rglob("*.safetensors"))  # nothing half-made was cached


def test_served_models_are_the_shipped_robust_ones_photo_first():
    from server.synthesis.models.loading import served_model_ids
    assert served_model_ids() == ["imagenette-rn18w75-l2", "cifar10-rn18h-l2"]
