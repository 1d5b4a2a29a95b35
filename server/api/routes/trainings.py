"""A person's own model from the browser: upload sets of photos (POST /api/uploads, then their
photos a class and a request at a time) and trainings of them (POST /api/trainings, its state, its
event stream, cancel). With Ray the same routes, the training running on the cluster
(jobs/ray/training.py); with --no-store, 404 (nothing is kept).
An upload set and a training are their person's (and an admin's): to anyone else their ids answer
404, as unknown ones.
"""
import asyncio
import json
import time

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ...store.people import Person, owner_of, visible_to
from ...store.uploads import Photo, UploadLimit
from ...synthesis.errors import FieldError
from ...synthesis.folders import clean_class_name
from ...synthesis.models.loading import read_card
from ..deps import AppState, PersonDep, StateDep, find_model, training_stream_person, training_ticket_scope
from ..images import base64_bytes
from ..responses import errors
from ..schemas import PhotoBatch, Ticket, TrainingRequest, TrainingView, UploadCreated, UploadView
from ..tickets import TICKET_S

router = APIRouter(tags=["own models"])
SSE_EVENT = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"enum": ["progress", "done", "failed", "cancelled"]}, "data": {"type": "string"}}}
POLL_S = 0.2
KEEPALIVE_S = 15.0


def _runner(state: AppState):
    if state.trainings is None:
        raise HTTPException(404, "this server keeps nothing (it was started with --no-store): uploads and "
                                 "trainings need its data dir")
    return state.trainings


def _uploads(state: AppState, upload_id: str | None = None, person: Person | None = None):
    """The upload sets; with `upload_id`, 404 unless that set is `person`'s to see."""
    uploads = _runner(state).uploads
    if upload_id is not None and not _visible_upload(state, upload_id, person):
        raise HTTPException(404, f"no upload {upload_id!r}")
    return uploads


def _visible_upload(state: AppState, upload_id: str, person: Person) -> bool:
    row = state.trainings.store.upload(upload_id)   # no row: a set from before people, the laptop's
    return visible_to(person, owner_of(row["owner"] if row else None))


def _upload_view(state: AppState, upload_id: str) -> dict:
    uploads = state.trainings.uploads
    try:
        counts = uploads.counts(upload_id)
        files, size = uploads.size(upload_id)
    except LookupError as e:
        raise HTTPException(404, str(e)) from None
    return {"id": upload_id, "classes": counts, "files": files, "bytes": size, "max_files": uploads.max_files,
            "max_bytes": uploads.max_bytes}


@router.post("/uploads", status_code=201, response_model=UploadCreated, responses=errors(401, 404, 503))
async def create_upload(state: StateDep, request: Request, person: PersonDep) -> UploadCreated:
    """A new, empty upload set: send it photos, a class at a time, then train a model of it."""
    uploads = _uploads(state)
    upload_id = await run_in_threadpool(uploads.create)
    await run_in_threadpool(state.trainings.store.add_upload, upload_id, person.name)
    return UploadCreated(id=upload_id, url=str(request.url_for("get_upload", upload_id=upload_id).path))


@router.get("/uploads/{upload_id}", response_model=UploadView, responses=errors(401, 404, 503))
async def get_upload(upload_id: str, state: StateDep, person: PersonDep) -> dict:
    await run_in_threadpool(_uploads, state, upload_id, person)
    return await run_in_threadpool(_upload_view, state, upload_id)


@router.post("/uploads/{upload_id}/photos", response_model=UploadView, responses=errors(400, 401, 404, 413, 422, 503))
async def add_photos(upload_id: str, body: PhotoBatch, state: StateDep, person: PersonDep) -> dict:
    """Photos of one class: each checked (an image, whole, within max_upload_pixels), all kept or none."""
    uploads = await run_in_threadpool(_uploads, state, upload_id, person)
    photos = [Photo(p.name, base64_bytes(p.data, "photos")) for p in body.photos]
    try:
        await run_in_threadpool(uploads.add, upload_id, body.class_, photos)   # decoding: off the event loop
    except LookupError as e:
        raise HTTPException(404, str(e)) from None
    except UploadLimit as e:
        raise HTTPException(413, str(e)) from None
    return await run_in_threadpool(_upload_view, state, upload_id)


@router.delete("/uploads/{upload_id}", status_code=204, response_class=Response,
               responses=errors(401, 404, 409, 503))
async def delete_upload(upload_id: str, state: StateDep, person: PersonDep) -> Response:
    """Delete the set and its photos (a set being trained on: 409)."""
    uploads, runner = await run_in_threadpool(_uploads, state, upload_id, person), state.trainings
    if runner.uses(upload_id):
        raise HTTPException(409, f"upload {upload_id!r} is being trained on: cancel the training first")
    try:
        await run_in_threadpool(uploads.delete, upload_id)
    except LookupError as e:
        raise HTTPException(404, str(e)) from None
    await run_in_threadpool(runner.store.delete_upload, upload_id)
    return Response(status_code=204)


def _view(request: Request, view: dict) -> dict:
    return {**view, "events_url": str(request.url_for("training_events", training_id=view["id"]).path)}


@router.post("/trainings", status_code=202, response_model=TrainingView, responses=errors(400, 401, 404, 422, 429, 503))
async def start_training(body: TrainingRequest, state: StateDep, request: Request, person: PersonDep) -> dict:
    """Train a model of the upload's classes from `base` (one the person may use): queued behind the
    trainings under way; the model made is theirs."""
    runner = _runner(state)
    if not await run_in_threadpool(_visible_upload, state, body.upload, person):
        raise FieldError("upload", f"upload: no upload {body.upload!r}")
    if body.epochs is not None and body.epochs > state.settings.max_training_epochs:
        raise FieldError("epochs", f"epochs must be at most {state.settings.max_training_epochs} "
                                   "(max_training_epochs)")
    if clean_class_name(body.name) in state.models:   # served from a file: not in the data dir, still taken
        raise FieldError("name", f"name: {clean_class_name(body.name)!r} is a served model's id: pick another name")
    try:
        base, _ = await run_in_threadpool(find_model, state, body.base, person)
    except LookupError as e:
        raise FieldError("base", f"base: {e}") from None
    source = await run_in_threadpool(_source, state, base)
    training = await run_in_threadpool(runner.submit, body.upload, body.name, source, body.epochs, person.name)
    return _view(request, runner.get(training.id))


def _source(state: AppState, model_id: str) -> str:
    """What the served model `model_id` was loaded from (its id, or the file `--model` named)."""
    for name in state.settings.model_ids:
        try:
            if read_card(name, state.settings.data_dir).meta.id == model_id:
                return name
        except (FileNotFoundError, ValueError):
            continue
    return model_id


def _training(state: AppState, training_id: str, person: Person) -> dict:
    view = _runner(state).get(training_id)
    if view is None or not visible_to(person, view["owner"]):
        raise HTTPException(404, f"no training {training_id!r}")
    return view


@router.get("/trainings/{training_id}", response_model=TrainingView, responses=errors(401, 404, 503))
async def get_training(training_id: str, state: StateDep, request: Request, person: PersonDep) -> dict:
    return _view(request, await run_in_threadpool(_training, state, training_id, person))


@router.post("/trainings/{training_id}/cancel", response_model=TrainingView, responses=errors(401, 404, 503))
async def cancel_training(training_id: str, state: StateDep, request: Request, person: PersonDep) -> dict:
    """A queued training is cancelled at once, a running one within a training step (its photos stay
    in their upload set); an ended one is left as it is."""
    await run_in_threadpool(_training, state, training_id, person)
    return _view(request, await run_in_threadpool(state.trainings.cancel, training_id))


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


@router.post("/trainings/{training_id}/ticket", response_model=Ticket, responses=errors(401, 404, 503))
async def training_ticket(training_id: str, state: StateDep, person: PersonDep) -> Ticket:
    """A ticket to follow this training's events (`?ticket=` of its event stream) where no header can
    be sent (a browser's EventSource): good for this training only, for a minute."""
    await run_in_threadpool(_training, state, training_id, person)
    return Ticket(ticket=state.tickets.issue(training_ticket_scope(training_id), person), expires_in=TICKET_S)


async def training_events(state: AppState, request: Request, training_id: str, person: Person):
    """`progress` whenever the training moves (status, stage, step, held-out accuracy), then the final event."""
    sent, last_sent = None, time.monotonic()
    while True:
        view = _view(request, await run_in_threadpool(_training, state, training_id, person))
        moved = {k: view[k] for k in ("status", "position", "stage", "step", "heldout_acc")}
        if view["status"] in ("done", "failed", "cancelled"):
            yield _sse(view["status"], view)
            return
        if moved != sent:
            yield _sse("progress", view)
            sent, last_sent = moved, time.monotonic()
        elif time.monotonic() - last_sent > KEEPALIVE_S:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(POLL_S)


@router.get("/trainings/{training_id}/events", response_class=StreamingResponse, name="training_events",
            responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT}},
                             "description": "progress (the training), then done / failed / cancelled with it"},
                       **errors(401, 404, 503)})
async def training_event_stream(training_id: str, state: StateDep, request: Request,
                                person: Annotated[Person, Depends(training_stream_person)]) -> StreamingResponse:
    await run_in_threadpool(_training, state, training_id, person)
    return StreamingResponse(training_events(state, request, training_id, person), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
