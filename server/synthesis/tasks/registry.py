"""The task registry: `TaskSpec` (with its reference defaults), the inputs several tasks share, `TASKS`.
The settings and their `Field`s are declared below the tasks, in fields.py (the palette uses them too).

Each task module registers one TaskSpec beside its builder. The API's request schemas, the CLI's
sub-commands, the server's dispatch and the model cards' defaults are all derived from `TASKS`.
"""
from dataclasses import dataclass, field
from typing import Callable

from ..errors import FieldError
from ..fields import SETTINGS, Field, at_input_size

MAX_BATCH = 1024
MAX_FACTOR = 8
DISPLAY_MAX = 8  # results are at most this many times the model's input size on their long side
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
