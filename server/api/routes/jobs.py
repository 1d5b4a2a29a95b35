"""GET /api/jobs/{id}, its Server-Sent Events, and DELETE to cancel it."""
import asyncio
import json
import time

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse

from ..deps import StateDep
from ..jobs import Job
from ..schemas import JobView

router = APIRouter(tags=["jobs"])
POLL_S = 0.05
KEEPALIVE_S = 15.0


def _job(state, job_id: str) -> Job:
    job = state.manager.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r} (unknown, or finished and expired)")
    return job


@router.get("/jobs/{job_id}", response_model=JobView)
def get_job(job_id: str, state: StateDep) -> dict:
    return _job(state, job_id).view()


@router.delete("/jobs/{job_id}", response_model=JobView)
def cancel_job(job_id: str, state: StateDep) -> dict:
    """A queued job is cancelled at once; a running one within one optimizer step."""
    _job(state, job_id)
    return state.manager.cancel(job_id).view()


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def job_events(job: Job, manager):
    """`progress` for every step, `preview` when there is a new one, then the final event."""
    # A listener from the queue on hears every step; a late one starts at the current step.
    sent_step = -1 if job.status == "queued" else None
    sent_preview, last_sent = None, time.monotonic()
    while True:
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
        if status in ("done", "failed", "cancelled"):
            chunks.append(_sse(status, job.view()))
        elif not chunks and time.monotonic() - last_sent > KEEPALIVE_S:
            chunks.append(": keep-alive\n\n")   # proxies close silent connections
        for chunk in chunks:
            yield chunk
        if status in ("done", "failed", "cancelled"):
            return
        last_sent = time.monotonic() if chunks else last_sent
        await asyncio.sleep(POLL_S)


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "progress, preview, then done / failed / cancelled with the job"}})
def job_event_stream(job_id: str, state: StateDep) -> StreamingResponse:
    return StreamingResponse(job_events(_job(state, job_id), state.manager), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
