"""GET /api/jobs/{id}, its Server-Sent Events, and POST /api/jobs/{id}/cancel.

Cancelling keeps the job readable (status "cancelled") until it expires like any finished job.
With a result store, an ended job stays readable from it after it expires, and across restarts.
A job is its person's (and an admin's): to anyone else its id answers 404, as an unknown one.
"""
import asyncio
import json
import time

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ...jobs.manager import JobManager
from ...jobs.record import Job
from ...store.people import Person, visible_to
from ..deps import PersonDep, StateDep, stream_person
from ..responses import errors
from ..schemas import JobView, Ticket
from ..tickets import TICKET_S

router = APIRouter(tags=["jobs"])
# One event of the stream: its name, and its data (JSON: {step, total}, a preview, or the job).
SSE_EVENT = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"enum": ["progress", "preview", "done", "failed", "cancelled"]}, "data": {"type": "string"}}}
POLL_S = 0.05
KEEPALIVE_S = 15.0


def _job(state, job_id: str, person: Person) -> Job:
    """From the manager, else (ended and expired there, or from before a restart) from the result
    store; 404 when there is none, or it is another person's."""
    job = state.manager.get(job_id) or (_stored(state.store, job_id) if state.store else None)
    if job is None or not visible_to(person, job.person):
        raise HTTPException(404, f"no job {job_id!r} (unknown, or finished and expired)")
    return job


def _stored(store, job_id: str) -> Job | None:
    fields = store.job(job_id)
    return Job.recorded(fields) if fields else None


@router.get("/jobs/{job_id}", response_model=JobView, responses=errors(401, 404, 503))
def get_job(job_id: str, state: StateDep, person: PersonDep) -> dict:
    return _job(state, job_id, person).view()


@router.post("/jobs/{job_id}/cancel", response_model=JobView, responses=errors(401, 404, 503))
def cancel_job(job_id: str, state: StateDep, person: PersonDep) -> dict:
    """A queued job is cancelled at once, a running one within one optimizer step; a finished job
    is left as it is. The job stays readable (GET) until it expires."""
    job = _job(state, job_id, person)
    return (state.manager.cancel(job_id) or job).view()


@router.post("/jobs/{job_id}/ticket", response_model=Ticket, responses=errors(401, 404, 503))
def job_ticket(job_id: str, state: StateDep, person: PersonDep) -> Ticket:
    """A ticket to follow this job's events (`?ticket=` of its event stream) where no header can be
    sent (a browser's EventSource): good for this job only, for a minute."""
    _job(state, job_id, person)
    return Ticket(ticket=state.tickets.issue(job_id, person), expires_in=TICKET_S)


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def job_events(job: Job, manager: JobManager, store=None):
    """`progress` for every step, `preview` when there is a new one, then the final event. With
    `store`, the job is followed there (a job this server's manager does not hold: another server's
    on the same data dir, or one that ended before a restart)."""
    # A listener from the queue on hears every step; a late one starts at the current step.
    sent_step = -1 if job.status == "queued" else None
    sent_preview, last_sent = None, time.monotonic()
    with manager.watching(job):   # previews are made only for watched jobs
        while True:
            if store is not None:
                job = await run_in_threadpool(_stored, store, job.id) or job
            else:
                job = await manager.latest(job)
            status, step, preview = job.status, job.step, job.preview
            chunks = []
            if status != "queued" and step != sent_step:
                first = step if sent_step is None else sent_step + 1
                chunks += [_sse("progress", {"step": s, "total": job.total}) for s in range(first, step + 1)]
                sent_step = step
            if preview is not sent_preview and status == "running":
                chunks.append(_sse("preview", preview))
                sent_preview = preview
            if job.terminal:
                chunks.append(_sse(status, job.view()))
            elif not chunks and time.monotonic() - last_sent > KEEPALIVE_S:
                chunks.append(": keep-alive\n\n")   # proxies close silent connections
            for chunk in chunks:
                yield chunk
            if job.terminal:
                return
            last_sent = time.monotonic() if chunks else last_sent
            await asyncio.sleep(POLL_S)


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT}},
                             "description": "progress, preview, then done / failed / cancelled with the job"},
                       **errors(401, 404, 503)})
def job_event_stream(job_id: str, state: StateDep,
                     person: Annotated[Person, Depends(stream_person)]) -> StreamingResponse:
    job = _job(state, job_id, person)
    foreign = state.store if state.store is not None and state.manager.get(job_id) is None else None
    return StreamingResponse(job_events(job, state.manager, foreign), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
