"""POST /api/tasks/{task} for every task of the registry, GET /api/tasks, and POST /api/rerun.

A request validates the job now, then queues it: built (a TaskRun) where the front end holds the
models, checked against the model's card (a Recipe, built by a worker) with Ray.
"""
import base64
from dataclasses import asdict

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ...settings import Settings
from ...synthesis import tasks
from ...synthesis.tasks import TaskRun
from ...synthesis.errors import FieldError
from ...synthesis.recipes import Recipe, read_png_recipe
from ...store.people import Person
from ..deps import AppState, PersonDep, StateDep, find_model
from ..images import base64_bytes
from ..requests import build_run, rebuild_run, request_models
from ..responses import errors
from ..schemas import JobCreated, JobView, RerunRequest, TaskInfo
from .results import visible_result

STARTED = {200: {"model": JobView, "description": "with ?wait=true: the finished job"},
           **errors(400, 413, 422, 429, 503)}


def task_info(spec: tasks.TaskSpec) -> TaskInfo:
    return TaskInfo(id=spec.id, summary=spec.summary, result=spec.result, scaled=list(spec.scale_with_result),
                    fields=[{**asdict(f), "setting": f.name in tasks.SETTINGS} for f in spec.fields])


def tasks_router(settings: Settings) -> APIRouter:
    """One route per task, each with its own request schema (with this server's limits)."""
    router = APIRouter(tags=["tasks"])

    @router.get("/tasks", response_model=list[TaskInfo], responses=errors(503))
    def list_tasks(state: StateDep) -> list[TaskInfo]:
        """Every task with its inputs and settings; defaults per model are in /api/models."""
        return [task_info(spec) for spec in tasks.TASKS.values()]

    for task, body_model in request_models(settings).items():
        router.add_api_route(f"/tasks/{task}", _start_route(task, body_model), methods=["POST"],
                             status_code=202, response_model=JobCreated, responses=STARTED,
                             name=f"start_{task}", summary=f"Start a job: {tasks.TASKS[task].summary}",
                             description=f"{tasks.TASKS[task].summary[0].upper()}{tasks.TASKS[task].summary[1:]}. "
                                         "Answers at once with the job's URLs, or with `?wait=true` once it has "
                                         "finished.")

    @router.post("/tasks/{task}", include_in_schema=False)
    def unknown_task(task: str):
        raise HTTPException(404, f"no task {task!r}: the tasks are {', '.join(tasks.TASKS)}")

    @router.post("/rerun", status_code=202, response_model=JobCreated, responses=STARTED)
    async def rerun(body: RerunRequest, state: StateDep, request: Request, person: PersonDep, wait: bool = False):
        """Run a robust-canvas PNG's recipe again: the same task, model, seed, settings and inputs."""
        return await _rerun(state, request, body.png, person, wait)

    @router.post("/results/{result_id}/rerun", status_code=202, response_model=JobCreated,
                 responses={**STARTED, **errors(404)})
    async def rerun_result(result_id: str, state: StateDep, request: Request, person: PersonDep, wait: bool = False):
        """Run a saved result's recipe again (one's own, or one shared with everyone)."""
        return await _rerun(state, request, await run_in_threadpool(_saved_png, state, result_id, person), person, wait)

    return router


async def _rerun(state: AppState, request: Request, png: str, person: Person, wait: bool):
    recipe = await run_in_threadpool(_recipe, png)   # inflating and decoding: off the event loop
    try:
        model_id, model = find_model(state, recipe.model, person)
    except LookupError as e:
        raise FieldError("png", f"the image was made by {e}") from None
    problem = await run_in_threadpool(rebuild_run, model, recipe, state.settings)
    return await _submit(state, request, recipe.task, model_id, model, problem, person, wait)


def _saved_png(state: AppState, result_id: str, person: Person) -> str:
    """The PNG of a saved result, base64 (404 when it is unknown or not `person`'s to see)."""
    visible_result(state, result_id, person)
    return base64.b64encode(state.store.png(result_id) or b"").decode()


def _start_route(task: str, body_model):
    async def start(body: body_model, state: StateDep, request: Request, person: PersonDep, wait: bool = False):
        try:
            model_id, model = find_model(state, body.model, person)
        except LookupError as e:
            raise FieldError("model", str(e)) from None
        # Building decodes images and may run the model (an automatic class): off the event loop.
        problem = await run_in_threadpool(build_run, task, model, body, state.settings)
        return await _submit(state, request, task, model_id, model, problem, person, wait)

    return start


async def _submit(state: AppState, request: Request, task: str, model_id: str, model, problem: TaskRun | Recipe,
                  person: Person, wait: bool):
    # Off the event loop: the job is recorded in the result store (a database write) before the 202.
    job = await run_in_threadpool(state.manager.submit, task, model_id, model, problem, person.name)
    if wait:
        job = await state.manager.wait(job)
        return JSONResponse(job.view(), status_code=200)
    base = str(request.url_for("get_job", job_id=job.id).path)
    return JobCreated(id=job.id, status_url=base, events_url=f"{base}/events")


def _recipe(png: str):
    return read_png_recipe(base64_bytes(png, "png"))[0]   # FieldErrors name "png"
