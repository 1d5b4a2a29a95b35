"""translate: an image turned into another class, within eps of the source."""
from .. import photo
from ..objectives import class_score
from .inputs import at_model_size, display_size, labels, resize
from .registry import IMAGE, STEPS_IN_BALL, Field, TaskSpec, register
from .runs import TaskRun, ball_run


def class_in_ball(model, image, class_, settings: dict, at_photo_size: bool = False) -> TaskRun:
    """Maximize a class in an L2 ball around the image at the model's size: translation and sketches.
    `at_photo_size`: the change is carried back onto the image at display size (photo.Carry)."""
    x = at_model_size(model, image)
    display = display_size(tuple(image.shape[2:]), model.meta.input_size)
    carried = photo.carry(resize(image, display), x) if at_photo_size else None
    return ball_run(x, class_score(labels(class_, len(x))), settings, display, carry=carried)


def build(model, image, class_, *, seed: int, settings: dict) -> TaskRun:
    """Image-to-image translation: the target class, within eps of the source."""
    return class_in_ball(model, image, class_, settings, at_photo_size=True)


def check(model, image, class_, *, seed: int, settings: dict) -> None:
    """One class for all images, or one each: translation and sketches."""
    labels(class_, len(image))


SPEC = register(TaskSpec(
    "translate", "turn an image into another class", build,
    (IMAGE, Field("class", "class", "target class name or index", required=True)),
    STEPS_IN_BALL,
    {"steps": 30, "step_size": 0.5, "eps": 6.0, "rule": "pgd", "patience": 3},
    "one image, the source's aspect ratio", check=check))
