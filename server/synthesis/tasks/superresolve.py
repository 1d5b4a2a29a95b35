"""superresolve: consistent bicubic upsampling by `factor`, then class maximization, never leaving the input's downsampling."""
import torch

from .. import photo
from ..consistency import Downsampled
from ..errors import FieldError
from ..objectives import class_score
from .inputs import labels, predict
from .registry import AUTO_CLASS, DISPLAY_MAX, IMAGE, MAX_FACTOR, STEPS_IN_BALL, Field, TaskSpec, register
from .runs import TaskRun, ball_run


def build(model, image, factor: int, class_, *, seed: int, settings: dict) -> TaskRun:
    """Consistent bicubic upsampling by `factor`, then class maximization in a small ball, every step
    kept consistent with the input (consistency.Downsampled); photo.superresolution says where the
    model runs for large results. Default eps and step size scale with the side the model works at
    relative to its input size (`result_scale`).
    """
    x0, consistent, carried = photo.superresolution(image, factor, model.meta.input_size, model.device)
    classes = predict(model, x0) if class_ is None else labels(class_, len(image))
    return ball_run(x0, class_score(classes), settings, result_size(image, factor), also=consistent, carry=carried)


def check(model, image, factor: int, class_, *, seed: int, settings: dict) -> dict:
    """A result of at most DISPLAY_MAX times the model's input size a side; one class for all
    images, or one each (none: the model's guess, made when it is built). An input finer than the
    model's scale gets the consistent bicubic upsampling alone: its settings say no steps."""
    out, size = result_size(image, factor), model.meta.input_size
    if max(out) > DISPLAY_MAX * size:
        largest = DISPLAY_MAX * size // max(image.shape[-2:])
        fits = f"the largest factor for this {image.shape[-2]}x{image.shape[-1]} image is {largest}" \
            if largest >= 2 else "no factor fits this image"
        raise FieldError("factor", f"the result would be {out[0]}x{out[1]}; at most {DISPLAY_MAX * size} pixels "
                         f"a side for this model: {fits}; downscale the image or use a smaller factor")
    if class_ is not None:
        labels(class_, len(image))
    if photo.work_factor(tuple(image.shape[-2:]), factor, size) < 2:
        return {**settings, "steps": 0}
    return settings


def result_size(image, factor: int) -> tuple[int, int]:
    return image.shape[-2] * factor, image.shape[-1] * factor


def start(model, inputs: dict) -> tuple:
    """Where the optimizer starts (the size the model works at) and the consistency it keeps."""
    h, w = inputs["image"].shape[-2:]
    work = photo.work_factor((h, w), inputs["factor"], model.meta.input_size)
    if work < 2:   # consistent bicubic alone: the run starts from the input itself
        return (h, w), None
    return (h * work, w * work), Downsampled(torch.empty((1, 3, h, w), device="meta"), work)


def result_scale(model, inputs: dict) -> float:
    """The side the model works at relative to its input size (geometric mean of its sides)."""
    h, w = inputs["image"].shape[-2:]
    work = max(1, photo.work_factor((h, w), inputs["factor"], model.meta.input_size))   # below 2 it runs no steps
    return (h * work * w * work) ** 0.5 / model.meta.input_size


SPEC = register(TaskSpec(
    "superresolve", "upsample an image and add detail of its class", build,
    (IMAGE, Field("factor", "int", "upsampling factor", default=4, minimum=2, maximum=MAX_FACTOR), AUTO_CLASS),
    STEPS_IN_BALL,
    {"steps": 30, "step_size": 0.6, "eps": 4.0, "rule": "pgd", "patience": 3},
    "one image, factor times the source's size, whose downsampling is the source", scale_with_result=("step_size", "eps"),
    result_scale=result_scale, check=check, start=start))
