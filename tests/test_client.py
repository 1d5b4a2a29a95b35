"""The Python client (server.client) and `robust-canvas <task> --server URL`, against the real app on 127.0.0.1."""
import threading
import time

import httpx
import pytest
import torch
import uvicorn
from PIL import Image

from server.api.app import create_app
from server.settings import Settings
from server.cli import main
from server.client import ApiError, Client, JobError
from server.synthesis.models.meta import CIFAR10_CLASSES
from server.synthesis.recipes import read_png_recipe
from tests.api_support import decode, picture, tiny_with_seeds
from tests.conftest import make_tiny_model

TOKEN = "s3cret"


@pytest.fixture(scope="module")
def url():
    app = create_app(Settings(token=TOKEN, warm_palettes=False),
                     models={"tiny": tiny_with_seeds(), "plain": make_tiny_model(1)})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def api(url):
    with Client(url, token=TOKEN) as client:
        yield client


def test_run_returns_images_and_tensors_and_reports_progress(api):
    steps = []
    job = api.run("generate", {"class": "cat", "n": 2, "steps": 7, "seed": 1},
                  on_progress=lambda step, total: steps.append((step, total)))
    assert job.status == "done" and job.step == 7 and job.model == "tiny"
    assert steps[-1] == (7, 7) and [s for s, _ in steps] == sorted(s for s, _ in steps)
    images, tensors = job.images(), job.tensors()
    assert [im.size for im in images] == [(32, 32)] * 2 and all(isinstance(im, Image.Image) for im in images)
    assert tensors.shape == (2, 3, 32, 32) and 0 <= tensors.min() and tensors.max() <= 1
    # the tensors are the API's PNGs, pixel for pixel
    pixels = (tensors[0].permute(1, 2, 0).reshape(-1, 3) * 255).round().short()
    assert torch.equal(pixels, decode(job.result["images"][0]))
    assert api.get(job.id) == job


def test_events_then_cancel(api):
    job_id = api.submit("translate", {"image": picture(), "class": "dog", "steps": 1000})
    events = api.events(job_id)
    first = next(events)
    assert first.name == "progress" and first.data["total"] == 1000
    assert api.cancel(job_id).status in ("running", "cancelled")
    assert [e.name for e in events][-1] == "cancelled"
    cancelled = api.wait(job_id)
    assert cancelled.status == "cancelled"
    with pytest.raises(JobError, match="cancelled"):
        cancelled.images()


def test_errors_name_the_field_and_the_token_is_required(api, url):
    with pytest.raises(ApiError) as e:
        api.submit("generate", {"n": 1})
    assert e.value.status == 422 and e.value.field == "class"
    with pytest.raises(ApiError) as e:
        api.get("nope")
    assert e.value.status == 404 and "nope" in e.value.message
    with Client(url) as anonymous, pytest.raises(ApiError) as e:
        anonymous.models()
    assert e.value.status == 401


def test_a_full_queue_is_retried_after_retry_after(monkeypatch):
    answers = [httpx.Response(429, headers={"Retry-After": "3"}, json={"detail": "the job queue is full"}),
               httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "the job queue is full"}),
               httpx.Response(202, json={"id": "abc", "status_url": "", "events_url": ""})]
    slept = []
    monkeypatch.setattr("server.client.time.sleep", slept.append)
    http = httpx.Client(base_url="http://x", transport=httpx.MockTransport(lambda request: answers.pop(0)))
    assert Client(http=http).submit("generate", {"class": 1}) == "abc"
    assert slept == [3.0, 2.0]
    answers[:] = [httpx.Response(429, headers={"Retry-After": "1"}, json={"detail": "the job queue is full"})] * 2
    with pytest.raises(ApiError, match="429"):
        Client(http=http, retries=1).submit("generate", {"class": 1})


def test_cli_runs_a_task_on_a_server(url, tmp_path, capsys):
    image, mask = tmp_path / "in.jpg", tmp_path / "mask.png"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(image)
    square = Image.new("L", (32, 32), 0)
    square.paste(255, (8, 8, 24, 24))
    square.save(mask)
    out = tmp_path / "out.png"
    args = ["inpaint", str(image), str(mask), "--class", "cat", "--steps", "3", "--out", str(out)]
    assert main([*args, "--server", url, "--token", TOKEN]) == 0
    path, name, score = capsys.readouterr().out.split("\t")
    assert path == str(out) and Image.open(out).size == (32, 32) and name in CIFAR10_CLASSES
    float(score)
    assert main([*args, "--server", url, "--token", TOKEN, "--penalty-weight", "3"]) == 0
    capsys.readouterr()
    recipe, _ = read_png_recipe(out.read_bytes())   # the server's PNG as it made it, recipe included
    assert recipe.task == "inpaint" and recipe.settings["penalty_weight"] == 3.0 and recipe.inputs["class"] == "cat"
    assert main([*args, "--server", url]) == 2
    assert "401" in capsys.readouterr().err


def test_cli_remote_equals_the_same_request_through_the_client(url, api, tmp_path, capsys):
    out = tmp_path / "g.png"
    assert main(["generate", "bird", "-n", "2", "--steps", "4", "--seed", "9", "--out", str(out),
                 "--server", url, "--token", TOKEN]) == 0
    job = api.run("generate", {"class": "bird", "n": 2, "steps": 4, "seed": 9})
    for i, expected in enumerate(job.images()):
        assert Image.open(tmp_path / f"g-{i}.png").tobytes() == expected.tobytes()
