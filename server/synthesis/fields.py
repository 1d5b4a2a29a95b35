"""The settings every optimizer run may take, declared once: `Field`, `SETTINGS`, their checks, and
the reference input size their defaults are tuned at.

Below the tasks (tasks/registry.py declares each task's inputs and picks its settings from these),
so that the feature palette (palette.py), which is no task, checks its settings by the same fields.
"""
from dataclasses import dataclass
from typing import Any

from .errors import FieldError
from .steps import BASES, RULES
from .texture import FILLS

MAX_STEPS = 5000
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
    Field("guess", "choice", "with no class given: push the hole toward the model's own guess on the fill (on, where "
          "the guess reaches min_confidence) or keep the fill (off: only a class a person names is pushed toward)",
          choices=("on", "off"), legacy="on"),
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


def checked_settings(s: dict) -> dict:
    """Settings by name checked against their fields in SETTINGS; `steps` made an int."""
    for name, value in s.items():
        check_value(SETTINGS[name], value)
    s["steps"] = int(s["steps"])
    return s


def check_value(f: Field, value) -> None:
    """A number or choice field's value against its limits; FieldError names the field."""
    if f.kind == "choice":
        if value not in f.choices:
            raise FieldError(f.name, f"{f.name} must be one of {', '.join(f.choices)}, got {value!r}")
        return
    integral = f.kind == "int"
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and value == value
    ok = ok and abs(value) != float("inf") and (not integral or int(value) == value)
    ok = ok and (f.minimum is None or (value > f.minimum if f.positive else value >= f.minimum))
    ok = ok and (f.maximum is None or value <= f.maximum)
    if not ok:
        what = "an integer" if integral else "a finite number"
        low = "" if f.minimum is None else f" {'above' if f.positive else 'from'} {f.minimum:g}"
        high = "" if f.maximum is None else f" {'up ' if f.minimum is None else ''}to {f.maximum:g}"
        raise FieldError(f.name, f"{f.name} must be {what}{low}{high}, got {value!r}")
