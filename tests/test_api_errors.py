"""Every way a request can be wrong gets a clear 4xx naming the problem, and the worker survives."""
import base64

import pytest
from PIL import Image

from server.api.images import decode_mask
from server.settings import Settings
from server.cli import main
from server.synthesis.tasks import solve_batch
from tests.api_support import api_client, data_url, field_of, picture, square_mask, wait_for, wait_running
from tests.conftest import make_tiny_model

LONG = {"image": picture(), "class": "cat", "steps": 1000}


@pytest.fixture(scope="module")
def client():
    with api_client() as c:
        yield c


def post(client, task, body):
    return client.post(f"/api/tasks/{task}", json=body)


@pytest.mark.parametrize("task, body, field", [
    ("sketch", {"class": "zebra", "image": picture()}, "class"),
    ("sketch", {"class": 10, "image": picture()}, "class"),
    ("sketch", {"class": "cat"}, "image"),
    ("generate", {}, "class"),
    ("sketch", {"class": "cat", "image": "data:image/png;base64,@@not base64@@"}, "image"),
    ("sketch", {"class": "cat", "image": base64.b64encode(b"just some text").decode()}, "image"),
    ("sketch", {"class": "cat", "image": data_url(Image.new("RGB", (8, 8)), "GIF")}, "image"),
    ("sketch", {"class": "cat", "image": picture()[:200]}, "image"),
    ("inpaint", {"image": picture(), "mask": square_mask(size=(16, 16), box=(0, 0, 8, 8))}, "mask"),
    ("inpaint", {"image": picture(), "mask": square_mask(box=(0, 0, 0, 0))}, "mask"),
    ("inpaint", {"image": picture()}, "mask"),
    ("paint", {"image": picture(), "mask": square_mask(), "feature": 100000}, "feature"),
    ("paint", {"image": picture(), "mask": square_mask()}, "feature"),
    ("paint", {"image": picture(), "mask": [], "feature": 0}, "mask"),                   # found by fuzzing: a 500
    ("paint", {"image": picture(), "mask": [square_mask()] * 2, "feature": 0}, "feature"),
    ("paint", {"image": picture(), "mask": [square_mask()] * 2, "feature": [1, 2, 3]}, "feature"),
    ("superresolve", {"image": picture(), "factor": 9}, "factor"),
    ("superresolve", {"image": picture(size=(200, 200)), "factor": 2}, "factor"),
    ("sketch", {"class": "cat", "image": picture(), "steps": 1001}, "steps"),
    ("sketch", {"class": "cat", "image": picture(), "steps": -1}, "steps"),
    ("sketch", {"class": "cat", "image": picture(), "steps": "many"}, "steps"),
    ("sketch", {"class": "cat", "image": picture(), "eps": -1}, "eps"),
    ("sketch", {"class": "cat", "image": picture(), "step_size": 0}, "step_size"),
    # found by fuzzing: float32 overflowed into black images
    ("sketch", {"class": "cat", "image": picture(), "step_size": 1e308}, "step_size"),
    ("sketch", {"class": "cat", "image": picture(), "eps": 1e308}, "eps"),
    ("generate", {"class": "cat", "temperature": 1e308}, "temperature"),
    ("paint", {"image": picture(), "mask": square_mask(), "feature": 1, "feature_weight": 1e308}, "feature_weight"),
    ("inpaint", {"image": picture(), "mask": square_mask(), "penalty_weight": 1e308}, "penalty_weight"),
    ("inpaint", {"image": picture(), "mask": square_mask(), "min_confidence": 1.5}, "min_confidence"),
    ("inpaint", {"image": picture(), "mask": square_mask(), "guess": "maybe"}, "guess"),
    ("generate", {"class": "cat", "n": 65}, "n"),
    # found by fuzzing: JSON booleans were read as 1
    ("generate", {"class": True}, "class"),
    ("generate", {"class": "cat", "steps": True}, "steps"),
    ("sketch", {"class": "cat", "image": picture(), "eps": False}, "eps"),
    ("paint", {"image": picture(), "mask": square_mask(), "feature": [True]}, "feature"),
    ("generate", {"class": "cat", "n": 0}, "n"),
    ("generate", {"class": "cat", "model": "plain"}, "model"),   # no seed distribution
    ("generate", {"class": "cat", "model": "nope"}, "model"),
    ("generate", {"class": "cat", "colour": "red"}, "colour"),
])
def test_bad_fields_are_422_naming_the_field(client, task, body, field):
    response = post(client, task, body)
    assert field_of(response) == field
    assert response.json()["detail"][0]["msg"]


def test_unknown_task_and_unknown_job_are_404(client):
    response = post(client, "dream", {"class": "cat"})
    assert response.status_code == 404 and "generate" in response.json()["detail"]
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.post("/api/jobs/nope/cancel").status_code == 404
    assert client.get("/api/jobs/nope/events").status_code == 404


@pytest.mark.parametrize("side", [3000, 20000])   # over our limit; over Pillow's own as well
def test_decompression_bomb_is_refused_before_decoding(client, side, monkeypatch):
    """The size is read from the PNG's header: the pixels of a bomb are never decoded (every decode of a
    file's pixels goes through ImageFile.load, recorded here)."""
    from PIL import ImageFile
    decoded, real_load = [], ImageFile.ImageFile.load

    def recording_load(image):
        decoded.append(image.size)
        return real_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    bomb = data_url(Image.new("1", (side, side)))   # a few kB of PNG, up to 400 megapixels
    assert len(bomb) < 200_000
    response = post(client, "sketch", {"class": "cat", "image": bomb})
    assert field_of(response) == "image" and "pixels" in response.json()["detail"][0]["msg"]
    assert (side, side) not in decoded, "the bomb's pixels were decoded before it was refused"
    # the recorder sees decoding: a picture within the limit is decoded, through it
    assert post(client, "sketch", {"class": "cat", "image": picture(), "steps": 1}).status_code == 202
    assert (32, 32) in decoded


def test_masks_read_alpha_or_white():
    rgba = Image.new("RGBA", (4, 4), (255, 255, 255, 0))
    rgba.putpixel((1, 2), (255, 255, 255, 255))
    gray = Image.new("L", (4, 4), 0)
    gray.putpixel((1, 2), 255)
    for img in (rgba, gray):
        mask = decode_mask(data_url(img), "mask", 10**6)
        assert mask.sum() == 1 and mask[2, 1] == 1


def test_jpeg_and_bare_base64_are_accepted(client):
    jpeg = data_url(Image.new("RGB", (32, 32), (10, 200, 30)), "JPEG").split(",", 1)[1]
    response = client.post("/api/tasks/sketch?wait=true", json={"class": "cat", "image": jpeg, "steps": 1})
    assert response.status_code == 200 and response.json()["status"] == "done"


def test_a_body_over_the_limit_is_413():
    with api_client(max_body_bytes=20_000) as client:
        big = picture(size=(128, 128))
        assert len(big) > 20_000
        assert post(client, "sketch", {"class": "cat", "image": big}).status_code == 413
        assert post(client, "sketch", {"class": "cat", "image": picture(), "steps": 1}).status_code == 202


def test_a_full_queue_is_429_with_retry_after():
    with api_client(max_queue=1) as client:
        running = post(client, "sketch", LONG).json()
        wait_running(client, running["id"])
        queued = post(client, "sketch", LONG)
        assert queued.status_code == 202
        refused = post(client, "sketch", LONG)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        for job in (running, queued.json()):
            client.post(f"/api/jobs/{job['id']}/cancel")


def test_a_job_past_the_time_limit_fails_with_a_clear_error():
    with api_client(job_timeout_s=0.3) as client:
        job = wait_for(client, post(client, "sketch", LONG).json()["id"])
        assert job["status"] == "failed" and "time limit" in job["error"] and job["step"] < 1000


def test_a_crash_in_the_solver_fails_the_job_and_the_worker_goes_on():
    calls = []

    def broken_once(model, problems, callbacks):
        calls.append(len(problems))
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return solve_batch(model, problems, callbacks)

    with api_client(solver=broken_once) as client:
        failed = wait_for(client, post(client, "sketch", {**LONG, "steps": 2}).json()["id"])
        assert failed["status"] == "failed" and "out of memory" in failed["error"]
        assert wait_for(client, post(client, "sketch", {**LONG, "steps": 2}).json()["id"])["status"] == "done"
    assert calls == [1, 1]


def test_a_token_guards_everything_but_health():
    with api_client(models={"tiny": make_tiny_model()}, token="s3cret") as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/models").status_code == 401
        assert client.get("/api/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        # never a token in a URL (issue 28): it lands in proxy and access logs
        assert client.post("/api/tasks/sketch?token=s3cret", json={**LONG, "steps": 1}).status_code == 401
        job = client.post("/api/tasks/sketch", json={**LONG, "steps": 1},
                          headers={"Authorization": "Bearer s3cret"}).json()
        assert client.get(f"/api/jobs/{job['id']}/events").status_code == 401
        assert client.get(f"/api/jobs/{job['id']}/events?token=s3cret").status_code == 401


def test_without_a_token_everything_is_open_and_cors_is_off(client):
    assert client.get("/api/models").status_code == 200
    preflight = client.options("/api/models", headers={"Origin": "http://elsewhere.example",
                                                       "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_origin_allows_that_origin():
    with api_client(models={"tiny": make_tiny_model()}, cors_origins=("http://elsewhere.example",)) as client:
        response = client.get("/api/models", headers={"Origin": "http://elsewhere.example"})
        assert response.headers["access-control-allow-origin"] == "http://elsewhere.example"


def test_the_canvas_and_the_docs_are_served(client):
    index = client.get("/")
    assert index.status_code == 200 and "<script" in index.text and 'type="module"' in index.text
    assert client.get("/js/api.js").status_code == 200
    assert client.get("/docs").status_code == 200
    assert "/api/tasks/inpaint" in client.get("/openapi.json").json()["paths"]


def test_settings_come_from_the_environment_then_overrides():
    env = {"ROBUST_CANVAS_MAX_STEPS": "50", "ROBUST_CANVAS_CORS_ORIGINS": "http://a.example, http://b.example",
           "ROBUST_CANVAS_TOKEN": "t"}
    settings = Settings.from_env(env, token="flag", device=None)
    assert settings.max_steps == 50 and settings.cors_origins == ("http://a.example", "http://b.example")
    assert settings.token == "flag" and settings.device is None
    with pytest.raises(ValueError, match="max_queue"):
        Settings.from_env({"ROBUST_CANVAS_MAX_QUEUE": "0"})


def test_serve_with_an_unknown_model_is_a_usage_error(capsys):
    assert main(["serve", "--model", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_a_body_that_is_not_json_is_a_documented_400_on_every_route_that_takes_one(client):
    """Schemathesis found undocumented 400s (the body unreadable) on the upload and training routes."""
    schema = client.get("/openapi.json").json()
    takes_json = [(path, method) for path, ops in schema["paths"].items() for method, op in ops.items()
                  if "application/json" in op.get("requestBody", {}).get("content", {})]
    assert ("/api/trainings", "post") in takes_json
    assert [(path, method) for path, method in takes_json
            if "400" not in schema["paths"][path][method]["responses"]] == []
    response = client.post("/api/trainings", content=b"\xff\xfe{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["detail"]
