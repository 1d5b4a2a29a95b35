"""GET /api/jobs/{id}, its Server-Sent Events, and POST /api/jobs/{id}/cancel.

Cancelling keeps the job readable (status "cancelled") until it expires like any finished job.
With a result store, an ended job stays readable from it after it expires, and across restarts.
"""
import asyncio
import json
import time

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ...jobs.manager import JobManager
from ...jobs.record import Job
from ..deps import StateDep
from ..responses import errors
from ..schemas import JobView

router = APIRouter(tags=["jobs"])
# One event of the stream: its name, and its data (JSON: {step, total}, a preview, or the job).
SSE_EVENT = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"enum": ["progress", "preview", "done", "failed", "cancelled"]}, "data": {"type": "string"}}}
POLL_S = 0.05
KEEPALIVE_S = 15.0


def _job(state, job_id: str) -> Job:
    """From the manager, else (ended and expired there, or from before a restart) from the result store."""
    job = state.manager.get(job_id) or (_stored(state.store, job_id) if state.store else None)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r} (unknown, or finished and expired)")
    return job


def _stored(store, job_id: str) -> Job | None:
    fields = store.job(job_id)
    return Job.recorded(fields) if fields else None


@router.get("/jobs/{job_id}", response_model=JobView, responses=errors(404, 503))
def get_job(job_id: str, state: StateDep) -> dict:
    return _job(state, job_id).view()


@router.post("/jobs/{job_id}/cancel", response_model=JobView, responses=errors(404, 503))
def cancel_job(job_id: str, state: StateDep) -> dict:
    """A queued job is cancelled at once, a running one within one optimizer step; a finished job
    is left as it is. The job stays readable (GET) until it expires."""
    job = _job(state, job_id)
    return (state.manager.cancel(job_id) or job).view()


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
                       **errors(404, 503)})
def job_event_stream(job_id: str, state: StateDep) -> StreamingResponse:
    job = _job(state, job_id)
    foreign = state.store if state.store is not None and state.manager.get(job_id) is None else None
    return StreamingResponse(job_events(job, state.manager, foreign), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
