"""`robust-canvas <task> ... --server URL`: the task on a remote server, through `server.client`."""
import httpx

from ..client import ApiError, Client, JobError, image_data_url
from .inputs import open_image, task_inputs
from .outputs import progress_bar, report, write_results


def run_task(spec, args) -> int:
    """The task on args.server: its PNGs are written as it made them (recipe included)."""
    body = request_body(spec, args)
    with progress_bar(args.command) as update:
        job = run_remote(args.server, args.token, args.command, body, update)
    report(write_results(job.pngs(), args.out), job.result["class_names"], job.result["scores"],
           job.result.get("notes"))
    return 0


def request_body(spec, args) -> dict:
    """The request body of the task's CLI arguments: registry fields by name, files as PNG data URLs."""
    inputs = task_inputs(spec, args, lambda path, mode: image_data_url(open_image(path, mode)))
    return {**({"model": args.model} if args.model else {}),
            **{f.name: value for f, value in inputs.items() if value is not None}}


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
