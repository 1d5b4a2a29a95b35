"""What routes depend on: the app's state, the token check and model lookup (as annotated types)."""
import secrets
import threading
from dataclasses import dataclass, field
from typing import Annotated, Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..jobs.manager import JobManager
from ..settings import Settings
from ..synthesis.models.loading import Card
from ..synthesis.models.robust_model import RobustModel
from .palettes import Palettes


@dataclass
class AppState:
    settings: Settings
    models: dict[str, RobustModel | Card]   # the first is the default; with Ray the cards alone
    manager: JobManager                 # embedded or Ray: the interface they share
    store: object | None = None         # store.sqlite.ResultStore: the history; None with --no-store
    stopping: threading.Event = field(default_factory=threading.Event)  # set at shutdown: palettes stop
    palette_entries: Callable | None = None   # computes palettes where the models are (None: here; palettes.py)
    trainings: object | None = None     # jobs.trainings.TrainingRunner (own models, their uploads); None with Ray or --no-store
    palettes: Palettes = field(init=False)
    _models_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self.palettes = Palettes(self.settings.thumbnail_size, self.stopping, self.palette_entries)

    @property
    def default_model_id(self) -> str:
        return next(iter(self.models))

    # A new dict each time, never one changed in place: a request reading the models meanwhile
    # (GET /api/models iterates them) sees the old one or the new one, whole.
    def add_model(self, model_id: str, model: RobustModel | Card) -> None:
        with self._models_lock:
            self.models = {**self.models, model_id: model}
        self.palettes.forget(model_id)   # a deleted model's of the same id

    def drop_model(self, model_id: str) -> None:
        with self._models_lock:
            self.models = {i: m for i, m in self.models.items() if i != model_id}
        self.palettes.forget(model_id)


def get_state(request: Request) -> AppState:
    state = getattr(request.app.state, "core", None)
    if state is None:
        raise HTTPException(503, "the server is still loading its models")
    return state


StateDep = Annotated[AppState, Depends(get_state)]
_bearer = HTTPBearer(auto_error=False, description="the server's token, when started with --token")


def require_token(request: Request, state: StateDep,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """Bearer token, or `?token=` for EventSource, which cannot set headers."""
    expected = state.settings.token
    if not expected:
        return
    given = credentials.credentials if credentials else request.query_params.get("token")
    if not given:
        raise HTTPException(401, "this server needs a token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(403, "the token was refused")


def find_model(state: AppState, model_id: str | None) -> tuple[str, RobustModel | Card]:
    """(id, model or, with Ray, its card) for an id, or the default; LookupError names the served models."""
    model_id = model_id or state.default_model_id
    if model_id not in state.models:
        raise LookupError(f"unknown model {model_id!r}: this server has {', '.join(state.models)}")
    return model_id, state.models[model_id]
