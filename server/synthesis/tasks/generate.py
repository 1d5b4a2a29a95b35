"""generate: class-conditional Gaussian seeds, then class maximization."""
import torch

from ..errors import FieldError
from ..objectives import class_score
from .registry import LOOKS, MAX_BATCH, STEPS_IN_BALL, Field, TaskSpec, register
from .runs import TaskRun, ball_run, with_looks


def build(model, class_, n: int, *, seed: int, settings: dict) -> TaskRun:
    """n samples per class: seeds drawn around each class mean (spread scaled by the `temperature`
    setting), then class maximization."""
    classes = _classes(class_)
    gen = torch.Generator().manual_seed(seed)
    size = model.meta.input_size
    x0 = torch.cat([model.seeds.sample(c, n, size, gen, settings["temperature"]) for c in classes]).to(model.device)
    objective = with_looks(model, class_score(torch.tensor(classes).repeat_interleave(n)), settings, seed)
    return ball_run(x0, objective, settings, (size, size), seed=seed)


def check(model, class_, n: int, *, seed: int, settings: dict) -> None:
    """A model that has seeds, at least one class, and at most MAX_BATCH images in all."""
    if not model.has_seeds:
        raise FieldError("model", f"model {model.meta.id!r} has no seed distribution for generation: "
                         "run `robust-canvas fit-seeds` to fit one from its training images")
    classes = _classes(class_)
    if not classes:
        raise FieldError("class", "give at least one class")
    if len(classes) * n > MAX_BATCH:
        raise FieldError("n", f"at most {MAX_BATCH} images at once, got {len(classes) * n}")


def _classes(class_) -> list[int]:
    return class_ if isinstance(class_, list) else [class_]


SPEC = register(TaskSpec(
    "generate", "sample images of a class", build,
    (Field("class", "class", "class name or index", required=True, many=True),
     Field("n", "int", "how many samples of each class", default=1, minimum=1, maximum=MAX_BATCH)),
    (*STEPS_IN_BALL, "temperature", *LOOKS),
    {"steps": 20, "step_size": 1.0, "eps": 30.0, "rule": "momentum", "patience": 3, "temperature": 2.0,
     "basis": "pixel", "noise": 0.0, "jitter": 0.0, "flip": "off", "bn_prior": 0.0},
    "n images per class at the model's input size", check=check))
