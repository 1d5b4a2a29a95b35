"""sketch: a drawing turned into a picture of a class, starting from and centred on the drawing."""
from .registry import STEPS_IN_BALL, Field, TaskSpec, register
from .runs import TaskRun
from .translate import check, class_in_ball


def build(model, image, class_, *, seed: int, settings: dict) -> TaskRun:
    """Sketch-to-image: the class, starting from and centred on the drawing."""
    return class_in_ball(model, image, class_, settings)


SPEC = register(TaskSpec(
    "sketch", "turn a drawing into a picture of a class", build,
    (Field("image", "image", "the drawing", required=True),
     Field("class", "class", "class name or index", required=True)),
    STEPS_IN_BALL,
    {"steps": 30, "step_size": 1.0, "eps": 10.0, "rule": "pgd", "patience": 0},
    "one image, the drawing's aspect ratio", check=check))
