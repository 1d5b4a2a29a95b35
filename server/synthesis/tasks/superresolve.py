"""superresolve: consistent bicubic upsampling by `factor`, then class maximization, never leaving the input's downsampling."""
from .. import photo
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
    out = (image.shape[2] * factor, image.shape[3] * factor)
    size = model.meta.input_size
    if max(out) > DISPLAY_MAX * size:
        largest = DISPLAY_MAX * size // max(image.shape[2:])
        fits = f"the largest factor for this {image.shape[2]}x{image.shape[3]} image is {largest}" if largest >= 2 \
            else "no factor fits this image"
        raise FieldError("factor", f"the result would be {out[0]}x{out[1]}; at most {DISPLAY_MAX * size} pixels "
                         f"a side for this model: {fits}; downscale the image or use a smaller factor")
    x0, consistent, carried = photo.superresolution(image, factor, size, model.device)
    classes = predict(model, x0) if class_ is None else labels(class_, len(image))
    if consistent is None:   # the input is finer than the model's scale: consistent bicubic alone
        settings = {**settings, "steps": 0}
    return ball_run(x0, class_score(classes), settings, out, also=consistent, carry=carried)


def result_scale(model, inputs: dict) -> float:
    """The side the model works at relative to its input size (geometric mean of its sides)."""
    h, w = inputs["image"].shape[2:]
    work = max(1, photo.work_factor((h, w), inputs["factor"], model.meta.input_size))   # below 2 it runs no steps
    return (h * work * w * work) ** 0.5 / model.meta.input_size


SPEC = register(TaskSpec(
    "superresolve", "upsample an image and add detail of its class", build,
    (IMAGE, Field("factor", "int", "upsampling factor", default=4, minimum=2, maximum=MAX_FACTOR), AUTO_CLASS),
    STEPS_IN_BALL,
    {"steps": 30, "step_size": 0.6, "eps": 4.0, "rule": "pgd", "patience": 3},
    "one image, factor times the source's size, whose downsampling is the source", scale_with_result=("step_size", "eps"), result_scale=result_scale))
