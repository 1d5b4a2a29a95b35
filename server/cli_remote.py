"""`robust-canvas <task> ... --server URL`: the task on a remote server, through `server.client`."""
import httpx
from PIL import Image

from .client import ApiError, Client, JobError, image_data_url

FILE_MODES = {"image": "RGB", "mask": "L"}


def request_body(spec, args) -> dict:
    """The request body of the task's CLI arguments: registry fields by name, files as PNG data URLs."""
    body = {"model": args.model} if args.model else {}
    for f in spec.fields:
        value = getattr(args, f.arg)
        if value is not None:
            body[f.name] = image_data_url(_open(value, FILE_MODES[f.kind])) if f.kind in FILE_MODES else value
    many = [f for f in spec.inputs if f.many and f.kind in ("mask", "feature")]
    for f, more in zip(many, zip(*(getattr(args, "stroke", None) or []))):  # extra strokes: lists
        extra = [image_data_url(_open(v, FILE_MODES[f.kind])) if f.kind in FILE_MODES else int(v) for v in more]
        body[f.name] = [body[f.name], *extra]
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
