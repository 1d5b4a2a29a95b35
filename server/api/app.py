"""`create_app`: the FastAPI app: API under /api, OpenAPI docs at /docs, the canvas at /."""
import asyncio
import functools
import time
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ..jobs.factory import make_manager, make_training
from ..jobs.manager import Solver
from ..jobs.rules import QueueFull
from ..jobs.trainings import TrainingRunner
from ..logs import log
from ..serving import load_served, open_store, with_data_dir
from ..settings import Settings
from ..store.sqlite import StoreError
from ..store.trainings import TrainingStore
from ..store.uploads import UploadSets
from ..synthesis.errors import FieldError
from ..synthesis.models.loading import Card, load_model, read_card, resolve_model_path
from ..synthesis.models.robust_model import RobustModel
from ..synthesis.precision import MIN_BATCH, use_bf16
from .deps import AppState, current_person
from .responses import errors
from .routes import health as health_routes, jobs as job_routes, models as model_routes, results as result_routes
from .routes import tasks as task_routes, trainings as training_routes


def open_trainings(settings: Settings, on_model) -> TrainingRunner | None:
    """Own models' uploads and trainings (docs/API.md, "Your own model"), kept in the data dir (None
    without one: --no-store); with Ray the trainings run on the cluster. `on_model(model_id)` serves
    each model made."""
    if not settings.store:
        return None
    uploads = UploadSets(settings.data_dir, max_files=settings.max_upload_files, max_bytes=settings.max_upload_bytes,
                         max_pixels=settings.max_upload_pixels)
    return TrainingRunner(settings, TrainingStore(settings.data_dir), uploads, on_model, make_training(settings))


def _ready_to_serve(model: RobustModel) -> RobustModel:
    use_bf16(model.device, MIN_BATCH)  # measure whether bf16 pays now, not during the first large batch
    return model.for_serving()


def _serve_made(app: FastAPI, settings: Settings, model_id: str) -> None:
    """A model a training has made, served from now on, beside the others (no restart): the job
    manager first (with Ray every worker loads it, from its file or a copy of it), then the routes."""
    weights = str(resolve_model_path(model_id, settings.data_dir))   # with Ray, the card's source: a file
    model = read_card(weights) if settings.ray else _ready_to_serve(load_model(weights, device=settings.device))
    app.state.core.manager.add_model(model_id, model)
    app.state.core.add_model(model_id, model)


def _front_end(settings: Settings, served: dict) -> dict[str, RobustModel | Card]:
    """What the routes see of the served models: the models, ready to serve, or with Ray their cards
    (models given in memory go to the workers as they are; the front end keeps only their cards)."""
    if settings.ray:
        return {i: m if isinstance(m, Card) else Card.of(m) for i, m in served.items()}
    if any(isinstance(m, Card) for m in served.values()):
        raise ValueError("the embedded server solves in this process: it needs the models, not their cards")
    return {i: _ready_to_serve(m) for i, m in served.items()}


def create_app(settings: Settings | None = None, models: dict[str, RobustModel | Card] | None = None,
               solver: Solver | None = None) -> FastAPI:
    """The app; `models` (id -> model, the first the default; with Ray a card will do) skips loading,
    e.g. in tests; `solver` replaces `solve_batch` in the job manager (tests pass one that counts or
    fails the solves)."""
    settings = with_data_dir(settings or Settings.from_env())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        served = models if models is not None else await run_in_threadpool(load_served, settings)
        if not served:
            raise ValueError("no models to serve")
        held = _front_end(settings, served)
        # With Ray the job store keeps the history on its node; every front end reads it through the store.
        store = None if settings.ray else await run_in_threadpool(open_store, settings)
        manager = make_manager(settings, served, solver, store)
        devices = sorted({str(m.device) for m in held.values() if not isinstance(m, Card)})
        await run_in_threadpool(manager.start, devices)
        # With Ray a palette is computed where models are loaded, in a Ray worker process (ray/manager.py).
        entries = manager.palette if settings.ray else None
        history = manager.history() if settings.ray and settings.store else store
        trainings = await run_in_threadpool(open_trainings, settings, functools.partial(_serve_made, app, settings))
        app.state.core = AppState(settings, held, manager, palette_entries=entries, store=history, trainings=trainings)
        if trainings:
            await run_in_threadpool(trainings.start)
        warming = asyncio.create_task(app.state.core.palettes.warm(held)) if settings.warm_palettes else None
        log("server_ready", models=",".join(held), devices=",".join(devices) or "ray workers")
        try:
            yield
        finally:
            app.state.core.stopping.set()
            if warming:  # wait for its thread: torch work left running at exit aborts the process
                await asyncio.gather(warming, return_exceptions=True)
            await app.state.core.palettes.stop()  # palettes a request started
            if trainings:
                await run_in_threadpool(trainings.stop)
                trainings.store.close()
            manager.stop()
            if store:
                store.close()
            app.state.core = None

    app = FastAPI(title="Robust Canvas", version="0.1.0", lifespan=lifespan,
                  description="Image synthesis with a single robust classifier. See docs/API.md.")
    app.state.core = None
    _add_middleware(app, settings)
    _add_error_handlers(app)
    api = APIRouter(prefix="/api")
    api.include_router(health_routes.router)
    # Who is asking, on every route but health (people may be added while the server runs). The job
    # and training routes ask themselves: their event streams also take a ticket.
    guarded = {"dependencies": [Depends(current_person)], "responses": errors(401)}
    for router in (model_routes.router, task_routes.tasks_router(settings), result_routes.router):
        api.include_router(router, **guarded)
    api.include_router(job_routes.router)
    api.include_router(training_routes.router)
    app.include_router(api)
    if settings.frontend_dir.is_dir():
        app.mount("/", StaticFiles(directory=settings.frontend_dir, html=True), name="frontend")
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    @app.middleware("http")
    async def log_requests(request: Request, call_next):
        started = time.monotonic()
        response = await call_next(request)
        if request.url.path.startswith("/api"):
            log("request", method=request.method, path=request.url.path, status=response.status_code,
                ms=1000 * (time.monotonic() - started))
        return response

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type"])


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FieldError)
    async def field_error(request: Request, e: FieldError):
        loc = ["body", e.field] if e.field else ["body"]
        return JSONResponse({"detail": [{"loc": loc, "msg": e.message, "type": "value_error"}]}, status_code=422)

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, e: QueueFull):
        return JSONResponse({"detail": str(e)}, status_code=429, headers={"Retry-After": str(e.retry_after)})

    @app.exception_handler(StoreError)
    async def store_error(request: Request, e: StoreError):
        log("store_error", path=request.url.path, error=str(e))
        return JSONResponse({"detail": f"the result store failed: {e}"}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError):
        # FastAPI's format, in our words, minus the echoed input (it may be a megabyte of base64)
        errors = [{"loc": _field_loc(err["loc"]), "msg": _message(err), "type": err["type"]} for err in e.errors()]
        return JSONResponse({"detail": errors}, status_code=422)


_LIMITS = {"less_than_equal": ("le", "at most"), "greater_than_equal": ("ge", "at least"),
           "greater_than": ("gt", "above"), "less_than": ("lt", "below")}


def _field_loc(loc: tuple) -> list:
    """(where, field): pydantic's location minus what follows the field (the member of a union it
    tried, a list index), so that the last element always names the request field."""
    return list(loc[:2])


def _message(err: dict) -> str:
    """Pydantic's message, led by the field's name (the canvas shows it as it is)."""
    name = str(err["loc"][1]) if len(err["loc"]) > 1 else "the body"
    if err["type"] in _LIMITS:
        key, words = _LIMITS[err["type"]]
        return f"{name} must be {words} {err.get('ctx', {}).get(key)}"
    if err["type"] == "missing":
        return f"{name} is required"
    if err["type"] == "extra_forbidden":
        return f"{name}: no such field for this request"
    return f"{name}: {err['msg']}"


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413, by header or while streaming."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = HTTPException(413, f"the request body is larger than {self.max_bytes} bytes")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            response = JSONResponse({"detail": too_large.detail}, status_code=413)
            return await response(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise too_large
            return message

        await self.app(scope, limited_receive, send)
