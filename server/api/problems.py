"""A task request -> the library's Problem, with every error naming the request field at fault."""
from ..synthesis import tasks
from ..synthesis.problem import Problem
from .images import ImageError, decode_image, decode_mask
from .schemas import TaskRequest
from .settings import Settings

BODY_FIELDS = ("model", "class", "image", "mask", "feature", "factor", "n", "steps", "step_size", "eps", "seed")
# Library argument names that the request spells differently.
REQUEST_FIELDS = {"sketch": "image"}


class FieldError(ValueError):
    """A request field (None: the body as a whole) is invalid."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def request_field(error: tasks.TaskInputError) -> str | None:
    """The request field a library input error names, or None for arguments the API does not expose."""
    name = REQUEST_FIELDS.get(error.field, error.field)
    return name if name in BODY_FIELDS else None


def build_problem(task: str, model, req: TaskRequest, settings: Settings) -> Problem:
    """Decode the images, check the server's limits, and let the library validate the rest."""
    _check_limits(req, settings)
    try:
        return BUILDERS[task](model, req, settings)
    except ImageError as e:
        raise FieldError(e.field, e.message) from None
    except FieldError:
        raise
    except tasks.TaskInputError as e:
        raise FieldError(request_field(e), str(e)) from None
    except ValueError as e:
        raise FieldError(None, str(e)) from None


def _check_limits(req: TaskRequest, settings: Settings) -> None:
    if req.steps is not None and req.steps > settings.max_steps:
        raise FieldError("steps", f"steps must be at most {settings.max_steps} on this server, got {req.steps}")
    if req.n is not None and not 1 <= req.n <= settings.max_n:
        raise FieldError("n", f"n must be from 1 to {settings.max_n} on this server, got {req.n}")


def _required(req: TaskRequest, name: str, task: str):
    value = getattr(req, "class_" if name == "class" else name)
    if value is None or value == "":
        raise FieldError(name, f"{name} is required for {task}")
    return value


def _image(req: TaskRequest, task: str, settings: Settings):
    return decode_image(_required(req, "image", task), "image", settings.max_image_pixels)


def _mask(req: TaskRequest, task: str, settings: Settings):
    return decode_mask(_required(req, "mask", task), "mask", settings.max_image_pixels)


def _optimizer(req: TaskRequest) -> dict:
    return {"steps": req.steps, "step_size": req.step_size, "eps": req.eps, "seed": req.seed}


def _generate(model, req, settings):
    return tasks.generate_problem(model, _required(req, "class", "generate"), req.n or 1, **_optimizer(req))


def _translate(model, req, settings):
    class_ = _required(req, "class", "translate")
    return tasks.translate_problem(model, _image(req, "translate", settings), class_, **_optimizer(req))


def _sketch(model, req, settings):
    class_ = _required(req, "class", "sketch")
    return tasks.sketch_problem(model, _image(req, "sketch", settings), class_, **_optimizer(req))


def _inpaint(model, req, settings):
    image, mask = _image(req, "inpaint", settings), _mask(req, "inpaint", settings)
    return tasks.inpaint_problem(model, image, mask, _class_or_auto(req), **_optimizer(req))


def _superresolve(model, req, settings):
    factor = 4 if req.factor is None else req.factor
    return tasks.superresolve_problem(model, _image(req, "superresolve", settings), factor, _class_or_auto(req),
                                      **_optimizer(req))


def _paint(model, req, settings):
    feature = _required(req, "feature", "paint")
    image, mask = _image(req, "paint", settings), _mask(req, "paint", settings)
    return tasks.paint_problem(model, image, mask, feature, **_optimizer(req))


def _class_or_auto(req: TaskRequest):
    """Inpaint and super-resolution default to the class the model sees."""
    return None if req.class_ in (None, "") else req.class_


BUILDERS = {"generate": _generate, "translate": _translate, "sketch": _sketch, "inpaint": _inpaint,
            "superresolve": _superresolve, "paint": _paint}
