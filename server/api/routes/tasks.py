"""POST /api/tasks/{task}: validate and build the job's problem now, then queue it."""
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..deps import StateDep, find_model
from ..jobs import Job
from ..problems import FieldError, build_problem
from ..schemas import JobCreated, JobView, Task, TaskRequest

router = APIRouter(tags=["tasks"])


@router.post("/tasks/{task}", status_code=202, response_model=JobCreated,
             responses={200: {"model": JobView, "description": "with ?wait=true: the finished job"},
                        422: {"description": "a field is invalid; `detail[0].loc` names it"},
                        429: {"description": "the queue is full; see Retry-After"}})
async def start_task(task: Task, body: TaskRequest, state: StateDep, request: Request, wait: bool = False):
    """Start a job. Answers at once with its URLs, or with `?wait=true` once it has finished."""
    try:
        model_id, model = find_model(state, body.model)
    except LookupError as e:
        raise FieldError("model", str(e)) from None
    # Building decodes images and may run the model (inpaint's automatic class): off the event loop.
    problem = await run_in_threadpool(build_problem, task, model, body, state.settings)
    job = state.manager.submit(Job(task=task, model_id=model_id, model=model, problem=problem,
                                   request=body.model_dump(by_alias=True)))
    if wait:
        await state.manager.wait(job)
        return JSONResponse(job.view(), status_code=200)
    base = str(request.url_for("get_job", job_id=job.id).path)
    return JobCreated(id=job.id, status_url=base, events_url=f"{base}/events")
