"""GET /api/health: answers without a token and while jobs run (the worker is another thread)."""
import torch
from fastapi import APIRouter

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
def health(state: StateDep) -> Health:
    devices = dict.fromkeys(describe_device(None if isinstance(m, Card) else m.device) for m in state.models.values())
    return Health(status="ok", device=", ".join(devices), models=list(state.models),
                  queue=state.manager.queued(), running=state.manager.running(),
                  store=state.store is not None)
