"""GET /api/models (model cards) and GET /api/models/{id}/features (the paint palette, with names)."""
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from ...synthesis.features.entries import select
from ...synthesis.palette import PaletteCancelled
from ...synthesis.recipes import card_hash
from ...synthesis.tasks import TASKS, task_defaults
from ..deps import StateDep, find_model
from ..responses import errors
from ..schemas import Feature, ModelCard

router = APIRouter(tags=["models"])


def model_card(model_id: str, model, default: bool) -> ModelCard:
    m = model.meta
    accuracy = m.accuracy or {}
    return ModelCard(id=model_id, dataset=m.dataset, classes=list(m.classes), input_size=m.input_size, norm=m.norm,
                     eps=m.eps, accuracy=accuracy.get("clean"), robust_accuracy=accuracy.get("robust"),
                     num_features=m.num_features, default=default,
                     task_defaults={task: task_defaults(model, task) for task in TASKS},
                     card_hash=card_hash(m))


@router.get("/models", response_model=list[ModelCard], responses=errors(503))
def models(state: StateDep) -> list[ModelCard]:
    return [model_card(i, m, i == state.default_model_id) for i, m in state.models.items()]


@router.get("/models/{model_id}/features", response_model=list[Feature], responses=errors(404, 422, 503))
async def features(model_id: str, state: StateDep,
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
        model_id, model = find_model(state, model_id)
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
