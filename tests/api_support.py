"""Helpers for the API tests: tiny models (one able to generate), images as data URLs, a client."""
import base64
import io
import json
import time
from contextlib import contextmanager

import numpy as np
import torch
from fastapi.testclient import TestClient
from PIL import Image

from server.api.app import create_app
from server.settings import Settings
from server.synthesis.seeds import SeedDistribution
from tests.conftest import make_tiny_model


def tiny_with_seeds(seed: int = 0):
    model = make_tiny_model(seed)
    d = 3 * 8 * 8
    model.seeds = SeedDistribution(torch.rand(10, d, generator=torch.Generator().manual_seed(0)),
                                   0.1 * torch.eye(d).expand(10, d, d).half(), resolution=8)
    return model


def data_url(img: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def picture(size=(32, 32), seed: int = 0) -> str:
    g = torch.Generator().manual_seed(seed)
    pixels = (torch.rand(size[1], size[0], 3, generator=g) * 255).to(torch.uint8).numpy()
    return data_url(Image.fromarray(pixels))


def square_mask(size=(32, 32), box=(8, 8, 24, 24)) -> str:
    """White and opaque inside `box`, transparent elsewhere (what the canvas sends)."""
    img = Image.new("RGBA", size, (255, 255, 255, 0))
    img.paste((255, 255, 255, 255), box)
    return data_url(img)


def decode(url: str) -> torch.Tensor:
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    return torch.from_numpy(np.asarray(img).reshape(-1, 3).astype(np.int16))


@contextmanager
def api_client(models=None, solver=None, **settings):
    """A TestClient whose lifespan runs the real worker thread (palettes computed on request, which waits
    for them, unless asked); `solver` replaces `solve_batch` in the job manager (create_app's injection point)."""
    models = models if models is not None else {"tiny": tiny_with_seeds(), "plain": make_tiny_model(1)}
    app = create_app(Settings(**{"warm_palettes": False, "palette_wait_s": 120, **settings}), models=models,
                     solver=solver)
    with TestClient(app) as client:
        yield client


def wait_status(client, url: str, until, timeout: float, every: float) -> dict:
    """GET `url` every `every` s until its `status` is one of `until`: a job's or a training's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.get(url).json()
        if found["status"] in until:
            return found
        time.sleep(every)
    raise AssertionError(f"{url} still {found['status']} after {timeout} s")


def wait_for(client, job_id: str, timeout: float = 30.0, until=("done", "failed", "cancelled")) -> dict:
    return wait_status(client, f"/api/jobs/{job_id}", until, timeout, every=0.02)


def wait_running(client, job_id: str) -> dict:
    return wait_for(client, job_id, until=("running", "done", "failed", "cancelled"))


def read_events(client, url: str, on_open=None) -> list[tuple[str, dict]]:
    """Every (event, data) of an SSE stream, read until the server ends it; on_open() runs once it is open."""
    events, name = [], None
    with client.stream("GET", url) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        if on_open:
            on_open()
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: "):])))
    return events


def field_of(response) -> str:
    """The field a 422 names: the last element of detail[0].loc."""
    assert response.status_code == 422, response.text
    return response.json()["detail"][0]["loc"][-1]
