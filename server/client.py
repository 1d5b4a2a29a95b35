"""A typed Python client for the REST API, on httpx: submit, wait, stream progress, cancel, results.

    from server.client import Client

    with Client("http://127.0.0.1:8000") as api:            # token="..." for a server with --token
        job = api.run("generate", {"class": "dog", "n": 2, "seed": 1},
                      on_progress=lambda step, total: print(step, "/", total))
        job.images()[0].save("dog.png")                      # PIL images; job.tensors(): (N,3,H,W) in [0,1]

A full queue (429) is retried after the server's Retry-After, up to `retries` times; any other
error response raises `ApiError` with the server's message (and the request field at fault, for 422).
"""
import base64
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields

import httpx
from PIL import Image

TERMINAL = ("done", "failed", "cancelled")


class ApiError(Exception):
    """An error response: `status`, the server's `message`, and `field` for an invalid request field."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(f"{status}: {field + ': ' if field else ''}{message}")
        self.status, self.message, self.field = status, message, field


class JobError(Exception):
    """A job that ended failed or cancelled (`job` holds it)."""

    def __init__(self, job: "Job"):
        super().__init__(f"job {job.id} {job.status}" + (f": {job.error}" if job.error else ""))
        self.job = job


@dataclass
class Job:
    id: str
    task: str
    model: str
    status: str                  # queued, running, done, failed, cancelled
    step: int
    total: int
    result: dict | None = None   # images (PNG data URLs), classes, class_names, scores, width, height
    error: str | None = None
    recipe: dict | None = None   # task, model and card hash, seed, every effective setting (docs/API.md)

    @classmethod
    def from_json(cls, data: dict) -> "Job":
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def pngs(self) -> list[bytes]:
        """The result PNGs as the server made them: each carries the job's recipe (`robust-canvas rerun`)."""
        return [base64.b64decode(url.split(",", 1)[-1]) for url in self._result()["images"]]

    def images(self) -> list[Image.Image]:
        """The result images (RGB)."""
        return [decode_data_url(url) for url in self._result()["images"]]

    def tensors(self):
        """The result images as one (N,3,H,W) float tensor in [0,1]."""
        import numpy as np
        import torch
        arrays = [np.asarray(im, dtype=np.float32) / 255 for im in self.images()]
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()

    def _result(self) -> dict:
        if self.status != "done" or not self.result:
            raise JobError(self)
        return self.result


@dataclass
class Event:
    name: str                    # progress, preview, done, failed, cancelled
    data: dict


class Client:
    """Sync client; use as a context manager (or call `close`). `http` replaces the httpx client."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", token: str | None = None, *, timeout: float = 60.0,
                 retries: int = 5, http: httpx.Client | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = http or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self.http.headers.update(headers)
        self.retries = retries

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # ---- the API ------------------------------------------------------------------------------

    def health(self) -> dict:
        return self._request("GET", "/api/health").json()

    def models(self) -> list[dict]:
        return self._request("GET", "/api/models").json()

    def submit(self, task: str, body: dict | None = None) -> str:
        """Queue a job; its id."""
        return self._request("POST", f"/api/tasks/{task}", json=body or {}).json()["id"]

    def rerun(self, png: bytes) -> str:
        """Queue a job that makes a robust-canvas PNG again from its recipe; its id."""
        return self._request("POST", "/api/rerun", json={"png": base64.b64encode(png).decode()}).json()["id"]

    def get(self, job_id: str) -> Job:
        return Job.from_json(self._request("GET", f"/api/jobs/{job_id}").json())

    def cancel(self, job_id: str) -> Job:
        """A queued job is cancelled at once, a running one within one optimizer step."""
        return Job.from_json(self._request("POST", f"/api/jobs/{job_id}/cancel").json())

    def events(self, job_id: str) -> Iterator[Event]:
        """The job's Server-Sent Events until the final one (done, failed or cancelled)."""
        with self.http.stream("GET", f"/api/jobs/{job_id}/events", timeout=httpx.Timeout(None, connect=30)) as r:
            if r.is_error:
                r.read()
                raise _error(r)
            name = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    name = line[len("event: "):]
                elif line.startswith("data: "):
                    yield Event(name, json.loads(line[len("data: "):]))

    def wait(self, job_id: str, on_progress: Callable[[int, int], None] | None = None) -> Job:
        """The job once it has ended (any status), following its events."""
        for event in self.events(job_id):
            if event.name == "progress" and on_progress:
                on_progress(event.data["step"], event.data["total"])
            elif event.name in TERMINAL:
                return Job.from_json(event.data)
        return self.get(job_id)   # the stream ended early (a proxy closed it): ask once more

    # ---- saved results (a server with a result store): one's own, and those shared with everyone ----

    def results(self, limit: int = 24, cursor: str | None = None, **filters) -> dict:
        """A page of one's saved results, newest first: {items, next}; filters: task, model, class_."""
        params = {"limit": limit, "cursor": cursor, "task": filters.get("task"), "model": filters.get("model"),
                  "class": filters.get("class_")}
        return self._request("GET", "/api/results", params={k: v for k, v in params.items() if v is not None}).json()

    def result(self, result_id: str) -> dict:
        return self._request("GET", f"/api/results/{result_id}").json()

    def result_png(self, result_id: str) -> bytes:
        return self._request("GET", f"/api/results/{result_id}.png").content

    def share(self, result_id: str, public: bool = True) -> dict:
        """Let anyone on the server open one's result by its id (public), or stop it."""
        return self._request("PATCH", f"/api/results/{result_id}", json={"public": public}).json()

    def delete_result(self, result_id: str) -> None:
        self._request("DELETE", f"/api/results/{result_id}")

    def rerun_result(self, result_id: str) -> str:
        """Queue a job that makes a saved result again from its recipe; its id."""
        return self._request("POST", f"/api/results/{result_id}/rerun").json()["id"]

    def run(self, task: str, body: dict | None = None, on_progress: Callable[[int, int], None] | None = None) -> Job:
        """Submit and wait; the done job, or JobError if it failed or was cancelled."""
        job = self.wait(self.submit(task, body), on_progress)
        if job.status != "done":
            raise JobError(job)
        return job

    # ---- plumbing -----------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        for attempt in range(self.retries + 1):
            response = self.http.request(method, path, **kwargs)
            if response.status_code != 429 or attempt == self.retries:
                break
            time.sleep(_retry_after(response))
        if response.is_error:
            raise _error(response)
        return response


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "1")
    return float(value) if value.replace(".", "", 1).isdigit() else 1.0


def _error(response: httpx.Response) -> ApiError:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):   # 422: [{loc, msg, type}]
        loc = detail[0].get("loc") or []
        return ApiError(response.status_code, detail[0].get("msg", ""), str(loc[-1]) if len(loc) > 1 else None)
    return ApiError(response.status_code, str(detail))


def image_data_url(image: Image.Image) -> str:
    """A PIL image as the PNG data URL that requests carry."""
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def decode_data_url(url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[-1]))).convert("RGB")
