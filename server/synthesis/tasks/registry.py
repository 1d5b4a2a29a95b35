"""The task registry: `Field`, `TaskSpec` (with its reference defaults), the shared settings, `TASKS`.

Each task module registers one TaskSpec beside its builder. The API's request schemas, the CLI's
sub-commands, the server's dispatch and the model cards' defaults are all derived from `TASKS`.
"""
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import FieldError
from ..texture import FILLS
from ..steps import BASES, RULES

MAX_STEPS = 5000
MAX_BATCH = 1024
MAX_FACTOR = 8
DISPLAY_MAX = 8  # results are at most this many times the model's input size on their long side
# Ceilings far above any useful value, so that no setting overflows float32 into black images:
# lengths past the L2 diameter of any image a model takes (388 at 224 px), weights up to a million
# (the cards use 0.1 to 90), seeds spread up to a hundred times their fitted Gaussian.
MAX_LENGTH, MAX_WEIGHT, MAX_TEMPERATURE = 1e4, 1e6, 100.0
MAX_NOISE, MAX_JITTER = 10.0, 1024.0

# Reference defaults are tuned on the 32-px CIFAR-10 model (docs/TASKS.md). For another input size
# the settings that are lengths in pixel space grow with the square root of the pixel count,
# i.e. by input_size / REFERENCE_SIZE.
REFERENCE_SIZE = 32
PIXEL_LENGTHS = ("step_size", "eps", "jitter")


def at_input_size(reference: dict, input_size: int) -> dict:
    """Reference settings for a model of `input_size`: PIXEL_LENGTHS scaled by input_size / 32."""
    scale = input_size / REFERENCE_SIZE
    return {k: v * scale if k in PIXEL_LENGTHS else v for k, v in reference.items()}


@dataclass(frozen=True)
class Field:
    """One input or setting of a task, under the one name the library, API, CLI and canvas use."""

    name: str
    kind: str                      # image | mask | class | feature | int | float | choice
    help: str
    required: bool = False
    default: Any = None            # None and not required: automatic (help says how) or the card's
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False         # strictly above `minimum`
    many: bool = False             # the library and the API also take a list (paint: one per stroke)
    choices: tuple[str, ...] = ()  # kind "choice": the names it may take
    # a setting added after recipes existed: the value that gives results as they were before it,
    # which a recipe that lacks the setting reruns with (runs.rebuild); None: the setting is original
    legacy: Any = None

    @property
    def arg(self) -> str:
        """The Python keyword (`class` is reserved)."""
        return "class_" if self.name == "class" else self.name


# Settings: their defaults are each task's reference, overridden by the model card's task_defaults.
SETTINGS = {f.name: f for f in (
    Field("steps", "int", "optimizer steps; more is slower and goes further", minimum=0, maximum=MAX_STEPS),
    Field("step_size", "float", "length of each normalized gradient step, in [0,1] pixel units (L2)",
          minimum=0, maximum=MAX_LENGTH, positive=True),
    Field("eps", "float", "L2 radius around the start that the result stays within, in [0,1] pixel units",
          minimum=0, maximum=MAX_LENGTH),
    Field("penalty_weight", "float", "weight of the penalty holding the pixels outside the region", minimum=0,
          maximum=MAX_WEIGHT),
    Field("feature_weight", "float", "weight of the feature being painted", minimum=0, maximum=MAX_WEIGHT),
    Field("rule", "choice", "update rule: pgd (normalized gradient steps, the paper's), momentum, adam or cosine "
          "(step size decaying to zero)", choices=tuple(RULES)),
    Field("patience", "int", "stop an image once its objective has not risen for this many steps (0: never)",
          minimum=0, maximum=MAX_STEPS),
    Field("temperature", "float", "spread of the seeds around their class mean (1: the fitted Gaussian)",
          minimum=0, maximum=MAX_TEMPERATURE, positive=True),
    Field("fill", "choice", "how the hole starts: patchmatch (texture copied from the rest of the image by "
          "PyPatchMatch, at its resolution), patch (the same by our own compact PatchMatch), harmonic (smooth from "
          "its border) or mean (flat mean colour)",
          choices=tuple(FILLS)),
    Field("min_confidence", "float", "with no class given: the least probability the model gives its own guess, "
          "on the fill, for the hole to be pushed toward it; below it the hole keeps the fill (0: always push)",
          minimum=0, maximum=1, legacy=0.0),
    Field("known", "choice", "how the pixels outside the hole are kept: exact (never moved; the penalty then "
          "weighs colour jumps across the border) or penalty (held by the penalty, the paper's)",
          choices=("exact", "penalty")),
    # Issue 20: levers against artifacts (docs/TASKS.md, "Looks"); each is off at its legacy value.
    Field("basis", "choice", "basis of the gradient steps: pixel, or fourier (colour-decorrelated, 1/f-scaled "
          "spectrum: smoother, less saturated steps)", choices=tuple(BASES), legacy="pixel"),
    Field("noise", "float", "Langevin noise after each step, as a fraction of the step's length (0: none)",
          minimum=0, maximum=MAX_NOISE, legacy=0.0),
    Field("jitter", "float", "the model sees the image shifted at random by up to this many pixels at each step, "
          "and flipped left-right at random when flip is on (0: no random view)", minimum=0, maximum=MAX_JITTER,
          legacy=0.0),
    Field("flip", "choice", "with jitter: also flip the model's view left-right at random (on) or not (off)",
          choices=("off", "on"), legacy="off"),
    Field("blend", "float", "how much of the class's seed image the start mixes into the drawing (0: the drawing "
          "alone; the result stays within eps of the drawing)", minimum=0, maximum=1, legacy=0.0),
    Field("bn_prior", "float", "weight of the prior holding each image's first-layer statistics near the "
          "training data's (against saturation; 0: none)", minimum=0, maximum=MAX_WEIGHT, legacy=0.0),
)}
LOOKS = ("basis", "noise", "jitter", "flip", "bn_prior")
LOOKS_OFF = {name: SETTINGS[name].legacy for name in LOOKS}
SEED = Field("seed", "int", "random seed: the same seed gives the same result", default=0, minimum=0,
             maximum=2**63 - 1)
STEPS_IN_BALL = ("steps", "step_size", "eps", "rule", "patience")
# Inputs several tasks share.
IMAGE = Field("image", "image", "the picture to work on (any size; resized to the model's input size)",
              required=True)
AUTO_CLASS = Field("class", "class", "class name or index (default: the model's own guess)")


@dataclass(frozen=True)
class TaskSpec:
    """One task: its builder, inputs, settings with their reference defaults, and what comes out.

    `build(model, **inputs, seed=, settings=) -> TaskRun` receives every input already validated
    and coerced (inputs.py) and the effective settings. `reference` holds the default of every
    setting, as tuned on the 32-px reference model; a model card's task_defaults win over it.
    `scale_with_result`: settings whose defaults are multiplied by `result_scale(model, inputs)`
    (super-resolution: the result's side / the model's input size).
    `check(model, **inputs, seed=, settings=)`: what the builder would refuse that the fields alone do
    not tell (how many classes for how many images, a result too large), from the model's card alone:
    `tasks.check` runs it, so that a front end without the model refuses what the builder would. It
    may return the settings the run will use, when the inputs settle one (super-resolution of an
    input finer than the model's scale runs no steps); the recipe records those.
    `start(model, inputs) -> ((h, w), constraint or None)`: the size the optimizer starts at when it
    is not the model's input size, and the further constraint the run adds (super-resolution's
    consistency, on any device), read from the given inputs (`tasks.batch_key`).
    """

    id: str
    summary: str
    build: Callable
    inputs: tuple[Field, ...]
    settings: tuple[str, ...]            # names in SETTINGS
    reference: dict                      # each setting's default at REFERENCE_SIZE
    result: str                          # what comes out, for the docs
    scale_with_result: tuple[str, ...] = ()
    result_scale: Callable | None = field(default=None, compare=False)
    check: Callable | None = field(default=None, compare=False)
    start: Callable | None = field(default=None, compare=False)

    @property
    def fields(self) -> tuple[Field, ...]:
        return (*self.inputs, *(SETTINGS[name] for name in self.settings), SEED)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


TASKS: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    if not set(spec.settings) <= set(SETTINGS) or set(spec.reference) != set(spec.settings):
        raise ValueError(f"task {spec.id!r}: its settings must exist and each have a reference default")
    TASKS[spec.id] = spec
    return spec


def spec(task: str) -> TaskSpec:
    if task not in TASKS:
        raise FieldError("task", f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return TASKS[task]


def task_defaults(model, task: str, scale: float = 1.0) -> dict:
    """The effective default settings of a task: its reference at the model's input size, overridden
    by the model card's task_defaults.

    Settings in the task's `scale_with_result` are multiplied by `scale` (super-resolution: result
    side / input size); `/api/models` reports them at scale 1.
    """
    s = spec(task)
    values = {**at_input_size(s.reference, model.meta.input_size), **model.meta.task_defaults.get(task, {})}
    return {k: v * scale if k in s.scale_with_result else v for k, v in values.items()}
