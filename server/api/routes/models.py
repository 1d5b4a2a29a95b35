"""GET /api/models (model cards) and GET /api/models/{id}/features (the paint palette)."""
from fastapi import APIRouter, HTTPException

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


@router.get("/models/{model_id}/features", response_model=list[Feature], responses=errors(404, 503))
async def features(model_id: str, state: StateDep) -> list[dict]:
    """One swatch per feature; computed in the background at start-up, or by the first call."""
    try:
        model_id, model = find_model(state, model_id)
    except LookupError as e:
        raise HTTPException(404, str(e)) from None
    try:
        return await state.palettes.get(model_id, model)
    except PaletteCancelled:
        raise HTTPException(503, "the server is shutting down") from None
