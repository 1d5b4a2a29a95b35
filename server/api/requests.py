"""Task requests: one request body model per task, derived from the library's task registry, and a
body's decoding into the library's inputs (images decoded; the canvas's "" for an automatic class).

Every error is a FieldError naming the request field at fault (the app answers 422).
"""
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, create_model

from ..settings import Settings
from ..synthesis import tasks
from ..synthesis.errors import FieldError
from ..synthesis.models.loading import Card
from ..synthesis.recipes import Recipe
from .images import decode_image, decode_mask

# Strict: pydantic's lax mode would read true as 1 and "3" as 3, where the schema says a number.
_TYPES = {"image": StrictStr, "mask": StrictStr, "class": StrictStr | StrictInt, "feature": StrictStr | StrictInt,
          "int": StrictInt, "float": StrictFloat}
_FORMATS = {"image": "PNG or JPEG, as a data URL or bare base64",
            "mask": "PNG: white and opaque marks the region"}


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


def request_models(settings: Settings) -> dict[str, type[BaseModel]]:
    """task id -> its request body model, with this server's limits in the schema."""
    return {task: _request_model(spec, settings) for task, spec in tasks.TASKS.items()}


def _request_model(spec: tasks.TaskSpec, settings: Settings) -> type[BaseModel]:
    fields = {"model": (str | None, Field(None, description="model id; default: the server's default model"))}
    for f in spec.fields:
        fields[f.arg] = _pydantic_field(spec, f, settings)
    name = "".join(part.title() for part in spec.id.split("_")) + "Request"
    return create_model(name, __base__=_Request, __doc__=f"{spec.summary[0].upper()}{spec.summary[1:]}: "
                        f"{spec.result}.", **fields)


def _pydantic_field(spec: tasks.TaskSpec, f: tasks.Field, settings: Settings):
    kind = Literal[f.choices] if f.kind == "choice" else _TYPES[f.kind]
    annotation = kind | list[kind] if f.many else kind
    maximum = _server_maximum(f, settings)
    cast = int if f.kind == "int" else float
    limits = {} if f.many or f.kind == "choice" else {("gt" if f.positive else "ge"): f.minimum, "le": maximum}
    limits = {k: cast(v) for k, v in limits.items() if v is not None}
    help_text = f.help + (f" ({_FORMATS[f.kind]})" if f.kind in _FORMATS else "")
    if f.many:
        help_text += "; a list for several at once"
    if f.name in tasks.SETTINGS:
        help_text += "; default: the model card's task_defaults"
        if f.name in spec.scale_with_result:
            help_text += ", scaled by the result's side / the model's input size"
    if f.required:
        return annotation, Field(..., alias=f.name, description=help_text, **limits)
    return annotation | None, Field(f.default, alias=f.name, description=help_text, **limits)


def _server_maximum(f: tasks.Field, settings: Settings):
    """This server's own limits where they are tighter than the library's."""
    if f.name == "steps":
        return min(f.maximum, settings.max_steps)
    if f.name == "n":
        return min(f.maximum, settings.max_n)
    return f.maximum


def build_run(task: str, model, body: BaseModel, settings: Settings) -> tasks.TaskRun | Recipe:
    """Decode the images and let the library validate and build the rest: a TaskRun for a served
    model, or for a card (with Ray) the checked Recipe that a worker builds."""
    spec = tasks.spec(task)
    try:
        given = {f.arg: _decoded(f, getattr(body, f.arg), settings) for f in spec.fields}
        return (tasks.check if isinstance(model, Card) else tasks.build)(model, task, **given)
    except FieldError as e:   # a field of this request, or the body as a whole
        named = e.field in {f.name for f in spec.fields} | {"model"}
        raise FieldError(e.field if named else None, e.message) from None
    except ValueError as e:
        raise FieldError(None, str(e)) from None


def rebuild_run(model, recipe: Recipe, settings: Settings) -> tasks.TaskRun | Recipe:
    """The recipe's TaskRun for a served model, or for a card the recipe checked again; either way
    within this server's limits, as a request would be."""
    check_recipe_limits(recipe, settings)
    try:
        return (tasks.recheck if isinstance(model, Card) else tasks.rebuild)(model, recipe)
    except ValueError as e:  # a recipe that names a field the task lacks, or another model's card
        raise FieldError("png", f"the recipe cannot be rerun here: {e}") from None


def check_recipe_limits(recipe, settings: Settings) -> None:
    """Steps, images per request and pixels per image of a recipe against this server's limits."""
    steps, n = recipe.settings.get("steps"), recipe.inputs.get("n")
    if isinstance(steps, (int, float)) and steps > settings.max_steps:
        raise FieldError("png", f"the recipe asks for {steps} steps; this server runs at most {settings.max_steps} "
                                "(max_steps)")
    if isinstance(n, (int, float)) and n > settings.max_n:
        raise FieldError("png", f"the recipe asks for n={n} images; this server makes at most {settings.max_n} (max_n)")
    for name, tensor in recipe.tensors().items():
        pixels = tensor.shape[-1] * tensor.shape[-2] if tensor.dim() >= 2 else 0
        if pixels > settings.max_image_pixels:
            raise FieldError("png", f"the recipe's {name} is {tensor.shape[-1]}x{tensor.shape[-2]}: this server "
                                    f"takes at most {settings.max_image_pixels} pixels (max_image_pixels)")


AUTOMATIC = ""   # the canvas sends an empty class for "the model's own guess"


def _decoded(f: tasks.Field, value, settings: Settings):
    if f.kind == "class" and value == AUTOMATIC:
        return None
    if value is None or f.kind not in ("image", "mask"):
        return value
    decode = decode_image if f.kind == "image" else decode_mask
    if isinstance(value, list):
        return [decode(v, f.name, settings.max_image_pixels) for v in value]
    return decode(value, f.name, settings.max_image_pixels)
