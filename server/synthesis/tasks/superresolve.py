"""superresolve: nearest upsampling by `factor`, then class maximization in a small ball, at the new size."""
import torch.nn.functional as F

from ..errors import FieldError
from ..objectives import class_score
from .inputs import labels, predict
from .registry import AUTO_CLASS, DISPLAY_MAX, IMAGE, MAX_FACTOR, STEPS_IN_BALL, Field, TaskSpec, register
from .runs import TaskRun, ball_run


def build(model, image, factor: int, class_, *, seed: int, settings: dict) -> TaskRun:
    """Nearest upsampling by `factor`, then class maximization in a small ball, at the new size.

    The model runs at the upsampled size (the ResNet pools adaptively). Default eps and step size
    scale with the output's side relative to the model's input size (`result_scale`).
    """
    out = start_size(model, {"image": image, "factor": factor})
    x0 = F.interpolate(image, scale_factor=factor, mode="nearest").to(model.device)
    classes = predict(model, x0) if class_ is None else labels(class_, len(image))
    return ball_run(x0, class_score(classes), settings, out)


def check(model, image, factor: int, class_, *, seed: int, settings: dict) -> None:
    """A result of at most DISPLAY_MAX times the model's input size a side; one class for all
    images, or one each (none: the model's guess, made when it is built)."""
    out, size = start_size(model, {"image": image, "factor": factor}), model.meta.input_size
    if max(out) > DISPLAY_MAX * size:
        raise FieldError("factor", f"the result would be {out[0]}x{out[1]}; at most {DISPLAY_MAX * size} "
                         "pixels a side for this model: downscale the image or use a smaller factor")
    if class_ is not None:
        labels(class_, len(image))


def start_size(model, inputs: dict) -> tuple[int, int]:
    """The upsampled size, where the optimizer starts and the result is shown (image: (...,H,W))."""
    h, w = inputs["image"].shape[-2:]
    return h * inputs["factor"], w * inputs["factor"]


def result_scale(model, inputs: dict) -> float:
    """The result's side relative to the model's input size (geometric mean of its sides)."""
    h, w = start_size(model, inputs)
    return (h * w) ** 0.5 / model.meta.input_size


SPEC = register(TaskSpec(
    "superresolve", "upsample an image and add detail of its class", build,
    (IMAGE, Field("factor", "int", "upsampling factor", default=4, minimum=2, maximum=MAX_FACTOR), AUTO_CLASS),
    STEPS_IN_BALL,
    {"steps": 30, "step_size": 0.6, "eps": 4.0, "rule": "pgd", "patience": 3},
    "one image, factor times the source's size", scale_with_result=("step_size", "eps"), result_scale=result_scale,
    check=check, start_size=start_size))
