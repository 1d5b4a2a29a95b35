"""sketch: a drawing turned into a picture of a class, starting from and centred on the drawing."""
import torch

from ..errors import FieldError
from ..objectives import class_score
from .inputs import at_model_size, display_size, labels
from .registry import LOOKS, STEPS_IN_BALL, Field, TaskSpec, register
from .runs import TaskRun, ball_run, with_looks


def build(model, image, class_, *, seed: int, settings: dict) -> TaskRun:
    """Sketch-to-image: the class, within eps of the drawing, starting from the drawing mixed with
    `blend` of a seed of the class (generation's seed distribution, drawn with `seed`)."""
    drawing = at_model_size(model, image)
    y = labels(class_, len(drawing))
    x0, blend = drawing, float(settings.get("blend", 0.0))
    if blend:
        gen, size = torch.Generator().manual_seed(seed), model.meta.input_size
        seeds = torch.cat([model.seeds.sample(c, 1, size, gen) for c in y.tolist()]).to(drawing.device)
        x0 = (1 - blend) * drawing + blend * seeds
    objective = with_looks(model, class_score(y), settings, seed)
    return ball_run(x0, objective, settings, display_size(tuple(image.shape[2:]), model.meta.input_size),
                    center=drawing, seed=seed)


def check(model, image, class_, *, seed: int, settings: dict) -> None:
    """One class for all drawings, or one each; a blend needs the model's seed distribution."""
    labels(class_, len(image))
    if float(settings.get("blend", 0.0)) and not model.has_seeds:
        raise FieldError("blend", f"model {model.meta.id!r} has no seed distribution to blend with: use blend 0")


SPEC = register(TaskSpec(
    "sketch", "turn a drawing into a picture of a class", build,
    (Field("image", "image", "the drawing", required=True),
     Field("class", "class", "class name or index", required=True)),
    (*STEPS_IN_BALL, "blend", *LOOKS),
    {"steps": 30, "step_size": 1.0, "eps": 10.0, "rule": "pgd", "patience": 0, "blend": 0.0,
     "basis": "pixel", "noise": 0.0, "jitter": 0.0, "flip": "off", "bn_prior": 0.0},
    "one image, the drawing's aspect ratio", check=check))
