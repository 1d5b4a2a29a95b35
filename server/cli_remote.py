"""`robust-canvas <task> ... --server URL`: the task on a remote server, through `server.client`."""
import httpx
from PIL import Image

from .client import ApiError, Client, JobError, image_data_url

# CLI arguments (by attribute name) -> request fields; files are sent as PNG data URLs.
FIELDS = {"model": "model", "class_": "class", "feature": "feature", "factor": "factor", "n": "n",
          "steps": "steps", "step_size": "step_size", "eps": "eps", "seed": "seed"}
FILES = {"image": "RGB", "mask": "L"}
LOCAL_ONLY = ("weight", "stroke", "feature_weight", "penalty_weight")   # options the API does not take


def request_body(args) -> dict:
    """The request body for the task's CLI arguments."""
    given = [f"--{name.replace('_', '-')}" for name in LOCAL_ONLY if getattr(args, name, None) is not None]
    if given:
        raise ValueError(f"{', '.join(given)} cannot be used with --server: the REST API does not take it")
    body = {field: getattr(args, name) for name, field in FIELDS.items() if getattr(args, name, None) is not None}
    for name, mode in FILES.items():
        if getattr(args, name, None) is not None:
            body[name] = image_data_url(_open(getattr(args, name), mode))
    return body


def run_remote(server: str, token: str | None, task: str, body: dict, on_progress=None):
    """The done job (server.client.Job); errors as ValueError with the server's message."""
    try:
        with Client(server, token) as api:
            return api.run(task, body, on_progress)
    except ApiError as e:
        raise ValueError(f"the server refused the {task} request: {e}") from None
    except JobError as e:
        raise ValueError(str(e)) from None
    except httpx.TransportError as e:
        raise ValueError(f"cannot reach {server}: {e}") from None


def _open(path: str, mode: str) -> Image.Image:
    try:
        with Image.open(path) as im:
            return im.convert(mode)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such image file: {path}") from None
    except OSError as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None
