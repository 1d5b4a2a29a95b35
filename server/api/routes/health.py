"""GET /api/health: answers without a token and while jobs run (the worker is another thread).

"unhealthy", with 503 for load balancers, when a part that every job needs is down (`parts`): no
worker thread or Ray model worker is up, or the Ray job store does not answer.
"""
import torch
from fastapi import APIRouter, Response

from ...synthesis.models.loading import Card
from ..deps import StateDep
from ..responses import errors
from ..schemas import Health

router = APIRouter(tags=["health"])


def describe_device(device: torch.device | None) -> str:
    """The device's name; None: a model that only Ray workers load (the front end holds its card)."""
    if device is None:
        return "ray workers"
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


@router.get("/health", response_model=Health, responses=errors(503))
def health(state: StateDep, response: Response) -> Health:
    devices = dict.fromkeys(describe_device(None if isinstance(m, Card) else m.device) for m in state.models.values())
    now = state.manager.health()
    ok = all(part["up"] for part in now["parts"].values())
    if not ok:
        response.status_code = 503
    # No token here: a model a person made is theirs to know of (GET /api/models), not anyone's.
    everyones = [i for i in state.models if i not in state.model_owners()]
    return Health(status="ok" if ok else "unhealthy", device=", ".join(devices), models=everyones,
                  queue=now["queue"], running=now["running"], store=state.store is not None, parts=now["parts"])
