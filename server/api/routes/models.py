"""GET /api/models (model cards), GET /api/models/{id}/features (the paint palette, with names), and
DELETE /api/models/{id} (a model a person made).

Shipped models (and models served from a file) are everyone's; a model a person made is theirs
(and an admin's): to anyone else its id answers as an unknown one."""
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from starlette.concurrency import run_in_threadpool

from ...synthesis.features.entries import select
from ...synthesis.models.loading import local_model_ids, own_model_ids
from ...synthesis.own_models import delete_own_model
from ...synthesis.palette import PaletteCancelled
from ...synthesis.recipes import card_hash
from ...store.people import may_change, owner_of, visible_to
from ...synthesis.tasks import TASKS, task_defaults
from ..deps import PersonDep, StateDep, find_model, usable_models
from ..responses import errors
from ..schemas import Feature, ModelCard

router = APIRouter(tags=["models"])


def model_card(model_id: str, model, default: bool, own: bool = False) -> ModelCard:
    m = model.meta
    accuracy = m.accuracy or {}
    return ModelCard(id=model_id, dataset=m.dataset, classes=list(m.classes), input_size=m.input_size, norm=m.norm,
                     eps=m.eps, accuracy=accuracy.get("clean"), robust_accuracy=accuracy.get("robust"),
                     num_features=m.num_features, default=default,
                     task_defaults={task: task_defaults(model, task) for task in TASKS},
                     card_hash=card_hash(m), own=own)


@router.get("/models", response_model=list[ModelCard], responses=errors(503))
def models(state: StateDep, person: PersonDep) -> list[ModelCard]:
    own = set(own_model_ids(state.settings.data_dir))
    served = usable_models(state, person)   # one snapshot: a training may add a model meanwhile
    return [model_card(i, m, i == state.default_model_id, i in own) for i, m in served.items()]


@router.delete("/models/{model_id}", status_code=204, response_class=Response, responses=errors(403, 404, 503))
async def delete_model(model_id: str, state: StateDep, person: PersonDep) -> Response:
    """Delete a model a person made, with its photos: it leaves the list at once (jobs on it finish).
    Shipped models and models served from a file are not a person's: 403; another person's: 404."""
    made = await run_in_threadpool(own_model_ids, state.settings.data_dir)
    owners = await run_in_threadpool(state.model_owners)   # a model no training made: no person's
    own = [i for i in made if i not in owners or visible_to(person, owner_of(owners[i]))]   # another's: unknown
    if model_id not in own:
        if model_id not in made and (model_id in state.models or model_id in local_model_ids()):
            raise HTTPException(403, f"{model_id!r} is not a model of your own (a shipped model, or one this "
                                     "server was started with): it cannot be deleted here")
        raise HTTPException(404, f"no model {model_id!r} (yours: {', '.join(own) or 'none'})")
    if not may_change(person, owner_of(owners.get(model_id))):
        raise HTTPException(403, f"{model_id!r} was made on the server (`robust-canvas train`), not by you: only "
                                 "an admin may delete it")
    if model_id == state.default_model_id:
        raise HTTPException(403, f"{model_id!r} is this server's default model: it cannot be deleted while served")
    state.drop_model(model_id)
    await run_in_threadpool(state.manager.remove_model, model_id)   # with Ray: the workers drop it
    try:
        await run_in_threadpool(delete_own_model, model_id, state.settings.data_dir)
    except LookupError as e:   # deleted meanwhile by another request or process
        raise HTTPException(404, str(e)) from None
    return Response(status_code=204)


@router.get("/models/{model_id}/features", response_model=list[Feature], responses=errors(404, 422, 503))
async def features(model_id: str, state: StateDep, person: PersonDep,
                   class_: Annotated[str | None, Query(alias="class", description="only the features linked to "
                                                       "this class (name or index), strongest first")] = None,
                   q: Annotated[str | None, Query(description="only the features whose index, name, colour, "
                                                  "texture or classes contain every word of this")] = None,
                   ) -> list[dict]:
    """One entry per feature: its swatch, name, linked classes and photo crops.

    Shipped models answer from their files at once; for others the swatches are computed in the
    background, and until they are ready the answer is 503 with Retry-After and the progress.
    """
    try:
        model_id, model = find_model(state, model_id, person)
    except LookupError as e:
        raise HTTPException(404, str(e)) from None
    try:
        entries = await state.palettes.get(model_id, model, wait=state.settings.palette_wait_s)
    except PaletteCancelled:
        raise HTTPException(503, "the server is shutting down") from None
    except TimeoutError:
        progress = state.palettes.progress[model_id]
        raise HTTPException(503, progress.message(model_id),
                            headers={"Retry-After": str(progress.retry_after())}) from None
    try:
        return select(entries, model, class_, q)
    except LookupError as e:
        raise HTTPException(422, [{"loc": ["query", "class"], "msg": str(e), "type": "value_error"}]) from None
