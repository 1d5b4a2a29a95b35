"""GET /api/results (the history, newest first), GET /api/results/{id} and its PNG, and
DELETE /api/results/{id}.

Served from the result store (store/sqlite.py); a server started with --no-store answers 404.
A person lists their own results (an admin: everyone's); another person's result answers 404, as
an unknown one, unless its owner made it public (PATCH): then anyone on the server opens it by its id.
"""
import base64
import binascii
import json
import re
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from ...store.people import Person, may_change, visible_to
from ...synthesis import tasks
from ..deps import AppState, PersonDep, StateDep
from ..responses import errors
from ..schemas import ResultChange, ResultItem, ResultPage

router = APIRouter(tags=["results"])
MAX_LIMIT = 100
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _store(state: AppState):
    if state.store is None:
        raise HTTPException(404, "this server keeps no results (it was started with --no-store)")
    return state.store


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", field), "msg": message, "type": "value_error"}])


def encode_cursor(row: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps([row["created"], row["id"]]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        created, result_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(created, bool) or not isinstance(created, (int, float)) or not isinstance(result_id, str):
            raise ValueError
        return float(created), result_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise _invalid("cursor", "not a cursor from this server's `next`") from None


def item_view(request: Request, row: dict) -> dict:
    png = str(request.url_for("result_png", result_id=row["id"]).path)
    created = datetime.fromtimestamp(row["created"], timezone.utc).isoformat(timespec="milliseconds")
    return {"id": row["id"], "job_id": row["job_id"], "index": row["idx"], "task": row["task"], "model": row["model"],
            "class": row["class"], "seed": row["seed"], "created": created.replace("+00:00", "Z"),
            "width": row["width"], "height": row["height"], "bytes": row["bytes"], "score": row["score"], "png": png,
            "recipe": row.get("recipe"), "owner": row["person"], "public": bool(row["public"])}


def visible_result(state: AppState, result_id: str, person: Person) -> dict:
    """The result's row (with its recipe), or 404: unknown, or another person's and not public."""
    row = _store(state).result(result_id)
    if row is None or not visible_to(person, row["person"], bool(row["public"])):
        raise HTTPException(404, f"no result {result_id!r}")
    return row


def own_result(state: AppState, result_id: str, person: Person) -> dict:
    """The result's row, when `person` may change it (theirs, or an admin); 404 or 403 otherwise."""
    row = visible_result(state, result_id, person)
    if not may_change(person, row["person"]):
        raise HTTPException(403, f"result {result_id!r} is {row['person']}'s: only they may change it")
    return row


@router.get("/results", response_model=ResultPage, response_model_by_alias=True,
            responses=errors(401, 404, 422, 503))
async def list_results(state: StateDep, request: Request, person: PersonDep,
                       cursor: Annotated[str | None, Query(description="`next` of the previous page")] = None,
                       limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 24,
                       task: Annotated[str | None, Query(description="only this task's results")] = None,
                       model: Annotated[str | None, Query(description="only this model's")] = None,
                       class_: Annotated[str | None, Query(alias="class", description="only images the model "
                                                           "sees as this class (name, any case)")] = None) -> dict:
    """One's saved results (an admin's: everyone's), newest first, a page at a time."""
    store = _store(state)
    if task is not None and task not in tasks.TASKS:
        raise _invalid("task", f"no task {task!r}: the tasks are {', '.join(tasks.TASKS)}")
    if model is not None and not _MODEL_ID.fullmatch(model):
        raise _invalid("model", "not a model id")
    if class_ is not None and not 0 < len(class_) <= 100:
        raise _invalid("class", "a class name of 1 to 100 characters")
    after = decode_cursor(cursor) if cursor is not None else None
    rows = await run_in_threadpool(store.results, limit + 1, after, task=task, model=model, class_=class_,
                                   person=None if person.admin else person.name)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [item_view(request, row) for row in rows], "next": encode_cursor(rows[-1]) if more else None}


@router.get("/results/{result_id}.png", response_class=Response, name="result_png",
            responses={200: {"content": {"image/png": {}}, "description": "the PNG, with its recipe"},
                       **errors(401, 404, 503)})
async def result_png(result_id: str, state: StateDep, person: PersonDep) -> Response:
    await run_in_threadpool(visible_result, state, result_id, person)
    data = await run_in_threadpool(_store(state).png, result_id)
    if data is None:
        raise HTTPException(404, f"no result {result_id!r}")
    # private: no shared cache (a proxy) may hand one person's PNG to another
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=31536000, immutable"})


@router.get("/results/{result_id}", response_model=ResultItem, response_model_by_alias=True,
            responses=errors(401, 404, 503))
async def get_result(result_id: str, state: StateDep, request: Request, person: PersonDep) -> dict:
    return item_view(request, await run_in_threadpool(visible_result, state, result_id, person))


@router.patch("/results/{result_id}", response_model=ResultItem, response_model_by_alias=True,
              responses=errors(400, 401, 403, 404, 413, 422, 503))
async def change_result(result_id: str, change: ResultChange, state: StateDep, request: Request,
                        person: PersonDep) -> dict:
    """Share the result (`{"public": true}`: anyone on the server may open it by its id) or stop sharing it."""
    return item_view(request, await run_in_threadpool(_share, state, result_id, person, change.public))


def _share(state: AppState, result_id: str, person: Person, public: bool) -> dict:
    own_result(state, result_id, person)
    _store(state).share(result_id, public)
    row = _store(state).result(result_id)
    if row is None:   # deleted meanwhile (by another request)
        raise HTTPException(404, f"no result {result_id!r}")
    return row


@router.delete("/results/{result_id}", status_code=204, response_class=Response,
               responses=errors(401, 403, 404, 503))
async def delete_result(result_id: str, state: StateDep, person: PersonDep) -> Response:
    """Delete the result: its index entry and its PNG (then 404 for both)."""
    await run_in_threadpool(own_result, state, result_id, person)
    if not await run_in_threadpool(_store(state).delete, result_id):
        raise HTTPException(404, f"no result {result_id!r}")
    return Response(status_code=204)
