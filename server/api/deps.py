"""What routes depend on: the app's state, who is asking (`PersonDep`) and model lookup (as annotated types)."""
import ipaddress
import secrets
import threading
from dataclasses import dataclass, field
from typing import Annotated, Callable

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..jobs.manager import JobManager
from ..settings import Settings
from ..store.people import ADMIN, LOCAL, Person, visible_to
from ..synthesis.models.loading import Card
from ..synthesis.models.robust_model import RobustModel
from .palettes import Palettes
from .tickets import Tickets


@dataclass
class AppState:
    settings: Settings
    models: dict[str, RobustModel | Card]   # the first is the default; with Ray the cards alone
    manager: JobManager                 # embedded or Ray: the interface they share
    store: object | None = None         # store.sqlite.ResultStore: the history; None with --no-store
    stopping: threading.Event = field(default_factory=threading.Event)  # set at shutdown: palettes stop
    palette_entries: Callable | None = None   # computes palettes where the models are (None: here; palettes.py)
    trainings: object | None = None     # jobs.trainings.TrainingRunner (own models, their uploads); None with --no-store
    palettes: Palettes = field(init=False)
    tickets: Tickets = field(init=False)   # event-stream tickets, signed with the data dir's key
    _models_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self.palettes = Palettes(self.settings.thumbnail_size, self.stopping, self.palette_entries)
        # The data dir's key: every front end on it honours the others' tickets (Ray, DEPLOY.md).
        self.tickets = Tickets(self.store.secret("event-tickets") if self.store else secrets.token_bytes(32))

    @property
    def default_model_id(self) -> str:
        return next(iter(self.models))

    # A new dict each time, never one changed in place: a request reading the models meanwhile
    # (GET /api/models iterates them) sees the old one or the new one, whole.
    def add_model(self, model_id: str, model: RobustModel | Card) -> None:
        with self._models_lock:
            self.models = {**self.models, model_id: model}
        self.palettes.forget(model_id)   # a deleted model's of the same id

    def model_owners(self) -> dict[str, str | None]:
        """Whose each model made by a training is ({} without trainings: with --no-store).
        A model not in it (shipped, served from a file, made with `robust-canvas train`) is everyone's."""
        return self.trainings.store.model_owners() if self.trainings is not None else {}

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
_bearer = HTTPBearer(auto_error=False, description="a person's token (`robust-canvas users add`), or the "
                                                  "server's --token; none on a laptop's server with nobody configured")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
_ASK = {"WWW-Authenticate": "Bearer"}


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:   # a host name: it may resolve to anything
        return False


def open_to_all(settings: Settings, has_people: bool) -> bool:
    """Whether a request without a token comes from the one implicit person (LOCAL): nobody is
    configured (no --token, no people), and the server listens on loopback only or was told
    --insecure-open."""
    return not settings.token and not has_people and (is_loopback(settings.host) or settings.insecure_open)


def identify(state: AppState, token: str | None) -> Person:
    """Who sends `token` (None: no token): read on every request, so a person removed a moment ago
    is refused (401) from their next request on."""
    if token:
        if state.settings.token and secrets.compare_digest(token.encode(), state.settings.token.encode()):
            return ADMIN
        person = state.store.person(token) if state.store else None
        if person is None:
            raise HTTPException(401, "the token was refused: it is nobody's (wrong, or its person was removed)",
                                headers=_ASK)
        return person
    if open_to_all(state.settings, state.store is not None and state.store.has_people()):
        return LOCAL
    raise HTTPException(401, "this server needs a token: send 'Authorization: Bearer <token>' (a person's token "
                             "comes from `robust-canvas users add NAME` on the server)", headers=_ASK)


def current_person(state: StateDep, credentials: Credentials) -> Person:
    return identify(state, credentials.credentials if credentials else None)


_TICKET = Query(description="from POST /api/jobs/{id}/ticket (a training's: /api/trainings/{id}/ticket): for "
                            "EventSource, which cannot send a header")


def _ticket_person(state: AppState, credentials, ticket: str | None, scope: str) -> Person:
    if ticket is None:
        return current_person(state, credentials)
    person = state.tickets.check(ticket, scope)
    if person is None:
        raise HTTPException(401, "the ticket was refused: it is for another job, or expired (ask for a new one)",
                            headers=_ASK)
    return person


def stream_person(job_id: str, state: StateDep, credentials: Credentials,
                  ticket: Annotated[str | None, _TICKET] = None) -> Person:
    """Who follows a job's events: the bearer token, or a ticket for this job (never a token in the URL)."""
    return _ticket_person(state, credentials, ticket, job_id)


def training_ticket_scope(training_id: str) -> str:
    """What a training's ticket is for: never a job's id (a ticket for one opens nothing of the other)."""
    return f"training:{training_id}"


def training_stream_person(training_id: str, state: StateDep, credentials: Credentials,
                           ticket: Annotated[str | None, _TICKET] = None) -> Person:
    """Who follows a training's events: the bearer token, or a ticket for this training."""
    return _ticket_person(state, credentials, ticket, training_ticket_scope(training_id))


PersonDep = Annotated[Person, Depends(current_person)]


def usable_models(state: AppState, person: Person | None) -> dict[str, RobustModel | Card]:
    """The served models `person` may use: everyone's (shipped, served from a file), and the ones
    people made that are theirs (an admin: all). None: all of them."""
    models = state.models   # one snapshot: a training may add a model meanwhile
    if person is None or person.admin:
        return models
    owners = state.model_owners()
    return {i: m for i, m in models.items() if i not in owners or visible_to(person, owners[i] or LOCAL.name)}


def find_model(state: AppState, model_id: str | None, person: Person | None = None) -> tuple[str, RobustModel | Card]:
    """(id, model or, with Ray, its card) for an id, or the default; LookupError names the served
    models (`person`: the ones they may use; another person's model is as unknown)."""
    model_id = model_id or state.default_model_id
    models = usable_models(state, person)
    if model_id not in models:
        raise LookupError(f"unknown model {model_id!r}: this server has {', '.join(models)}")
    return model_id, models[model_id]
