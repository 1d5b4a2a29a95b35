"""The six tasks of Santurkar et al. (2019), each a seed plus an objective for the one optimizer.

`TASKS` is the one registry: for each task its id, builder, inputs (name, kind, limits, help),
settings (whose defaults the model card holds) and result. The API's request schemas, the CLI's
sub-commands and the server's dispatch are all derived from it; adding a task is adding an entry.

    problem = tasks.build(model, "inpaint", image=x, mask=m)     # validated, with its recipe
    out = tasks.finish(model, problem, solve(model, problem))     # display-ready images
    out = tasks.run(model, "generate", class_="dog", n=4)         # the two in one

Images are float (N,3,H,W) or (3,H,W) in [0,1] of any size. Tasks that work at the model's
resolution resize them to input_size x input_size (squashing the aspect ratio); `finish` resizes
results back to the original aspect ratio, the long side clamped to [input_size, 8*input_size].
Super-resolution instead runs the model at the upsampled size (the ResNet pools adaptively).
Masks are (N,1,H,W), (1,H,W) or (H,W) in [0,1] at the image's size; 1 marks the region.
The input named `class` everywhere else is `class_` in Python.
"""
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from . import objectives
from .features.names import resolve_features
from .fill import FILLS
from .objectives import class_score, masked_mse, seam
from .optimizer import Callback, Result
from .problem import Problem, solve
from .recipes import Recipe, card_hash
from .steps import RULES

MAX_STEPS = 5000
MAX_BATCH = 1024
MAX_FACTOR = 8
DISPLAY_MAX = 8  # results are at most this many times the model's input size on their long side
# Ceilings far above any useful value, so that no setting overflows float32 into black images:
# lengths past the L2 diameter of any image a model takes (388 at 224 px), weights up to a million
# (the cards use 0.1 to 90), seeds spread up to a hundred times their fitted Gaussian.
MAX_LENGTH, MAX_WEIGHT, MAX_TEMPERATURE = 1e4, 1e6, 100.0


class TaskInputError(ValueError):
    """A task's input is invalid; `field` names the argument at fault (the API reports it)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class TaskOutput:
    images: torch.Tensor      # (N,3,H,W) in [0,1] at display size
    classes: list[int]        # the model's prediction on each result
    class_names: list[str]
    scores: list[float]       # final objective per image
    trace: torch.Tensor       # (N, steps_done + 1) objective per step
    stopped: bool             # the callback asked to stop early
    recipe: Recipe            # what made these images: rerunning it gives the same pixels


# ---- the registry ------------------------------------------------------------------------------

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

    @property
    def arg(self) -> str:
        """The Python keyword (`class` is reserved)."""
        return "class_" if self.name == "class" else self.name


# Settings: defaults come from the model card's task_defaults (see task_defaults).
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
    Field("fill", "choice", "how the hole starts: harmonic (smooth from its border) or mean (flat mean colour)",
          choices=tuple(FILLS)),
    Field("known", "choice", "how the pixels outside the hole are kept: exact (never moved; the penalty then "
          "weighs colour jumps across the border) or penalty (held by the penalty, the paper's)",
          choices=("exact", "penalty")),
)}
SEED = Field("seed", "int", "random seed: the same seed gives the same result", default=0, minimum=0,
             maximum=2**63 - 1)


@dataclass(frozen=True)
class TaskSpec:
    id: str
    summary: str
    build: Callable[..., Problem]        # (model, *inputs, *settings, seed) -> Problem
    inputs: tuple[Field, ...]
    settings: tuple[str, ...]            # names in SETTINGS
    result: str                          # what comes out, for the docs
    scaled: tuple[str, ...] = ()         # settings whose default scales with the result's side / input size

    @property
    def fields(self) -> tuple[Field, ...]:
        return (*self.inputs, *(SETTINGS[name] for name in self.settings), SEED)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


def spec(task: str) -> TaskSpec:
    if task not in TASKS:
        raise TaskInputError("task", f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return TASKS[task]


def build(model, task: str, **given) -> Problem:
    """The task's Problem from inputs and settings by their registry names (`class_` for class).

    Unknown names and missing required inputs raise TaskInputError naming the field.
    """
    s = spec(task)
    by_arg = {f.arg: f for f in s.fields}
    for name in given:
        if name not in by_arg:
            raise TaskInputError(name, f"{task} takes no {name!r}; it takes {', '.join(f.name for f in s.fields)}")
    for f in s.inputs:
        if f.required and given.get(f.arg) is None:
            raise TaskInputError(f.name, f"{f.name} is required for {task}")
    args = {f.arg: given[f.arg] if given.get(f.arg) is not None else f.default for f in s.fields}
    for f in s.inputs:  # a feature by name or by class (its top feature): the recipe keeps the index
        if f.kind == "feature" and args[f.arg] is not None:
            args[f.arg] = _feature_indices(model, args[f.arg])
    problem = s.build(model, **args)
    problem.recipe = Recipe(task=task, model=model.meta.id, card=card_hash(model.meta), seed=args["seed"],
                            settings=problem.settings, inputs={f.name: args[f.arg] for f in s.inputs})
    return problem


def run(model, task: str, *, callback: Callback | None = None, **given) -> TaskOutput:
    problem = build(model, task, **given)
    return finish(model, problem, solve(model, problem, callback))


# ---- defaults and validation -------------------------------------------------------------------

def task_defaults(model, task: str, scale: float = 1.0) -> dict:
    """The effective default settings of a task (or "palette"): the model card's task_defaults.

    Settings in the task's `scaled` are multiplied by `scale` (super-resolution: result side /
    input size); `/api/models` reports them at scale 1.
    """
    if task != "palette":
        spec(task)
    scaled = TASKS[task].scaled if task in TASKS else ()
    return {k: v * scale if k in scaled else v for k, v in model.meta.task_defaults[task].items()}


def task_settings(model, task: str, given: dict, scale: float = 1.0) -> dict:
    """Defaults overridden by the given (non-None) values, validated against the registry."""
    known = TASKS[task].settings if task in TASKS else tuple(model.meta.task_defaults[task])
    for name in given:
        if name not in known:
            raise TaskInputError(name, f"{task} has no setting {name!r}; its settings are {', '.join(known)}")
    s = {**task_defaults(model, task, scale), **{k: v for k, v in given.items() if v is not None}}
    for name, value in s.items():
        check_value(SETTINGS[name], value)
    s["steps"] = int(s["steps"])
    return s


def check_value(f: Field, value) -> None:
    """A number or choice field's value against its limits; TaskInputError names the field."""
    if f.kind == "choice":
        if value not in f.choices:
            raise TaskInputError(f.name, f"{f.name} must be one of {', '.join(f.choices)}, got {value!r}")
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
        raise TaskInputError(f.name, f"{f.name} must be {what}{low}{high}, got {value!r}")


def resolve_class(model, name_or_index) -> int:
    """A class index, a class name (case-insensitive) or a digit string -> the class index."""
    classes = model.meta.classes
    value = name_or_index
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, str):
        lower = [c.lower() for c in classes]
        if value.strip().lower() in lower:
            return lower.index(value.strip().lower())
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(classes):
        return value
    raise TaskInputError("class", f"unknown class {name_or_index!r} for model {model.meta.id!r}: "
                     f"use a name ({', '.join(classes[:12])}{', ...' if len(classes) > 12 else ''}) "
                     f"or an index from 0 to {len(classes) - 1}")


def _labels(model, class_, n: int) -> torch.Tensor:
    """One class per example: a single class for all, or a sequence of n classes."""
    if isinstance(class_, torch.Tensor):
        class_ = class_.tolist()
    if isinstance(class_, (list, tuple)):
        if len(class_) not in (1, n):
            raise TaskInputError("class", f"got {len(class_)} classes for {n} images")
        return torch.tensor([resolve_class(model, c) for c in class_] * (n if len(class_) == 1 else 1))
    return torch.full((n,), resolve_class(model, class_), dtype=torch.long)


def _feature_indices(model, feature):
    try:
        return resolve_features(model, feature)
    except LookupError as e:
        raise TaskInputError("feature", str(e)) from None


def _features(model, feature, n: int) -> torch.Tensor:
    values = feature.tolist() if isinstance(feature, torch.Tensor) else feature
    values = list(values) if isinstance(values, (list, tuple)) else [values] * n
    d = model.meta.num_features
    if len(values) not in (1, n):
        raise TaskInputError("feature", f"got {len(values)} features for {n} images")
    for k in values:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < d:
            raise TaskInputError("feature", f"unknown feature {k!r}: the model has features 0 to {d - 1}")
    return torch.tensor(values * (n if len(values) == 1 else 1))


def _as_images(image, name: str = "image") -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        raise TaskInputError(name, f"{name} must be a tensor (N,3,H,W) or (3,H,W), got {type(image).__name__}")
    x = image[None] if image.dim() == 3 else image
    if x.dim() != 4 or x.shape[1] != 3 or x.shape[0] == 0 or min(x.shape[2:]) < 1:
        raise TaskInputError(name, f"{name} must have shape (N,3,H,W) or (3,H,W), got {tuple(image.shape)}")
    if x.shape[0] > MAX_BATCH:
        raise TaskInputError(name, f"at most {MAX_BATCH} images at once, got {x.shape[0]}")
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    if not torch.isfinite(x).all() or x.min() < -1e-3 or x.max() > 1 + 1e-3:
        raise TaskInputError(name, f"{name} values must be in [0, 1]")
    return x.clamp(0, 1)


def _as_mask(mask, n: int, hw: tuple[int, int]) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise TaskInputError("mask", f"mask must be a tensor (N,1,H,W) or (H,W), got {type(mask).__name__}")
    m = {2: lambda t: t[None, None], 3: lambda t: t[:, None], 4: lambda t: t}.get(mask.dim(), lambda t: None)(mask)
    if m is None or m.shape[1] != 1 or m.shape[0] not in (1, n):
        raise TaskInputError("mask", f"mask must have shape (N,1,H,W), (1,H,W) or (H,W), got {tuple(mask.shape)}")
    if tuple(m.shape[2:]) != tuple(hw):
        raise TaskInputError("mask", f"mask is {m.shape[2]}x{m.shape[3]} but the image is {hw[0]}x{hw[1]}")
    m = m.float() / 255 if m.dtype == torch.uint8 else m.float()
    if not torch.isfinite(m).all() or m.min() < 0 or m.max() > 1:
        raise TaskInputError("mask", "mask values must be in [0, 1]")
    if (m.flatten(1).sum(1) == 0).any():
        raise TaskInputError("mask", "mask is empty: mark the region with 1s")
    return m.expand(n, -1, -1, -1)


def _resize(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    return F.interpolate(x, size=tuple(hw), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def _display_size(hw: tuple[int, int], input_size: int) -> tuple[int, int]:
    """The original aspect ratio, long side clamped to [input_size, DISPLAY_MAX * input_size]."""
    long = max(hw)
    scale = min(max(long, input_size), DISPLAY_MAX * input_size) / long
    return max(1, round(hw[0] * scale)), max(1, round(hw[1] * scale))


def _prepare(model, image, name: str = "image") -> tuple[torch.Tensor, tuple[int, int], tuple[int, int]]:
    """Images at the model's resolution on its device, their original size and their display size."""
    x = _as_images(image, name)
    size, hw = model.meta.input_size, tuple(x.shape[2:])
    return _resize(x, (size, size)).to(model.device), hw, _display_size(hw, size)


def _prepare_mask(model, mask, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    size = model.meta.input_size
    return _resize(_as_mask(mask, len(x), hw), (size, size)).to(x.device)


@torch.no_grad()
def _predict(model, x: torch.Tensor) -> torch.Tensor:
    return model(x.to(model.device)).argmax(1).cpu()


def _problem(x0, objective, s: dict, seed: int, display_size, center=None, free=None, known=None) -> Problem:
    return Problem(x0=x0, objective=objective, steps=s["steps"], step_size=float(s["step_size"]),
                   eps=float(s["eps"]), constraint="l2", center=center, seed=seed, display_size=display_size,
                   settings=s, rule=s["rule"], patience=s["patience"], free=free, known=known)


# ---- problems: one builder per task, called by `build` with every registry field ----------------

def generate_problem(model, class_, n: int = 1, *, seed: int = 0, **settings) -> Problem:
    """n samples per class: class-conditional Gaussian seeds (spread scaled by the `temperature`
    setting), then class maximization."""
    if model.seeds is None:
        raise TaskInputError("model", f"model {model.meta.id!r} has no seed distribution for generation: "
                         "run `robust-canvas fit-seeds` to fit one from its training images")
    check_value(GENERATE_N, n)
    s = task_settings(model, "generate", settings)
    wanted = class_ if isinstance(class_, (list, tuple, torch.Tensor)) else [class_]
    classes = _labels(model, wanted, len(wanted)).tolist()
    if len(classes) * n > MAX_BATCH:
        raise TaskInputError("n", f"at most {MAX_BATCH} images at once, got {len(classes) * n}")
    gen = torch.Generator().manual_seed(seed)
    size = model.meta.input_size
    x0 = torch.cat([model.seeds.sample(c, n, size, gen, s["temperature"]) for c in classes]).to(model.device)
    labels = torch.tensor(classes).repeat_interleave(n)
    return _problem(x0, class_score(labels), s, seed, (size, size))


def _class_in_ball(model, task: str, image, class_, seed: int, settings: dict) -> Problem:
    """Maximize a class in an L2 ball around the (resized) image: translation and sketches."""
    x, _, display = _prepare(model, image)
    labels = _labels(model, class_, len(x))
    s = task_settings(model, task, settings)
    return _problem(x, class_score(labels), s, seed, display)


def translate_problem(model, image, class_, *, seed: int = 0, **settings) -> Problem:
    """Image-to-image translation: the target class, within eps of the source."""
    return _class_in_ball(model, "translate", image, class_, seed, settings)


def sketch_problem(model, image, class_, *, seed: int = 0, **settings) -> Problem:
    """Sketch-to-image: the class, starting from and centred on the drawing."""
    return _class_in_ball(model, "sketch", image, class_, seed, settings)


def inpaint_problem(model, image, mask, class_=None, *, seed: int = 0, **settings) -> Problem:
    """Fill the masked region so that it belongs to the class and meets its border without a seam.

    With `known` "exact" the pixels outside the hole never change (the optimizer moves only the
    hole, and results show them exactly as given) and the objective is class score minus
    `penalty_weight` times the colour jumps across the hole's edge (`objectives.seam`); with
    "penalty" (the paper's) the known pixels are held by that weight times their squared distance.
    The hole starts from `fill`: "harmonic" (smooth from its border, `fill.harmonic_fill`) or "mean"
    (the mean colour of the known pixels). The class is given, or the model's prediction on that fill.
    """
    x, hw, display = _prepare(model, image)
    m = _prepare_mask(model, mask, x, hw)
    s = task_settings(model, "inpaint", settings)
    exact = s["known"] == "exact"
    hole = m > 0 if exact else m
    x0 = FILLS[s["fill"]](x, hole)
    labels = _predict(model, x0) if class_ is None else _labels(model, class_, len(x))
    if exact:
        objective = class_score(labels) - s["penalty_weight"] * seam(hole)
    else:
        objective = class_score(labels) - s["penalty_weight"] * masked_mse(x, 1 - m)
    # results keep the given pixels at the given size too (display size is the given size unless clamped)
    given = (_as_images(image), _as_mask(mask, len(x), hw) == 0) if exact and tuple(display) == tuple(hw) else None
    return _problem(x0, objective, s, seed, display, free=hole if exact else None, known=given)


def superresolve_problem(model, image, factor: int = 4, class_=None, *, seed: int = 0, **settings) -> Problem:
    """Nearest upsampling by `factor`, then class maximization in a small ball, at the new size.

    Default eps and step size scale with the output's side relative to the model's input size.
    """
    x = _as_images(image)
    check_value(SUPERRESOLVE_FACTOR, factor)
    out = (x.shape[2] * factor, x.shape[3] * factor)
    size = model.meta.input_size
    if max(out) > DISPLAY_MAX * size:
        raise TaskInputError("factor", f"the result would be {out[0]}x{out[1]}; at most {DISPLAY_MAX * size} "
                             "pixels a side for this model: downscale the image or use a smaller factor")
    x0 = F.interpolate(x, scale_factor=factor, mode="nearest").to(model.device)
    labels = _predict(model, x0) if class_ is None else _labels(model, class_, len(x))
    s = task_settings(model, "superresolve", settings, scale=(out[0] * out[1]) ** 0.5 / size)
    return _problem(x0, class_score(labels), s, seed, out)


def paint_problem(model, image, mask, feature, *, seed: int = 0, **settings) -> Problem:
    """Paint with features: raise feature k inside the brushed region, keep the rest in place.

    Several strokes at once: `mask` and `feature` as equal-length lists; the penalty then holds
    everything outside all strokes.
    """
    x, hw, display = _prepare(model, image)
    strokes = [(mask, feature)]
    if isinstance(mask, (list, tuple)):
        if not mask:
            raise TaskInputError("mask", "paint needs at least one stroke")
        if not isinstance(feature, (list, tuple)) or len(mask) != len(feature):
            raise TaskInputError("feature", "several strokes need as many features as masks")
        strokes = list(zip(mask, feature))
    s = task_settings(model, "paint", settings)
    outside = torch.ones_like(x[:, :1])
    objective = None
    for stroke_mask, k in strokes:
        region = _prepare_mask(model, stroke_mask, x, hw)
        outside = outside * (1 - region)
        term = s["feature_weight"] * objectives.feature(_features(model, k, len(x)), region)
        objective = term if objective is None else objective + term
    objective = objective - s["penalty_weight"] * masked_mse(x, outside)
    return _problem(x, objective, s, seed, display)


# ---- the entries -------------------------------------------------------------------------------

IMAGE = Field("image", "image", "the picture to work on (any size; resized to the model's input size)",
              required=True)
GENERATE_N = Field("n", "int", "how many samples of each class", default=1, minimum=1, maximum=MAX_BATCH)
SUPERRESOLVE_FACTOR = Field("factor", "int", "upsampling factor", default=4, minimum=2, maximum=MAX_FACTOR)
AUTO_CLASS = Field("class", "class", "class name or index (default: the model's own guess)")
STEPS_IN_BALL = ("steps", "step_size", "eps", "rule", "patience")

TASKS = {t.id: t for t in (
    TaskSpec("generate", "sample images of a class", generate_problem,
             (Field("class", "class", "class name or index", required=True, many=True), GENERATE_N),
             (*STEPS_IN_BALL, "temperature"), "n images per class at the model's input size"),
    TaskSpec("translate", "turn an image into another class", translate_problem,
             (IMAGE, Field("class", "class", "target class name or index", required=True)),
             STEPS_IN_BALL, "one image, the source's aspect ratio"),
    TaskSpec("inpaint", "fill the masked region of an image", inpaint_problem,
             (IMAGE, Field("mask", "mask", "the region to fill: white (1) = missing", required=True), AUTO_CLASS),
             (*STEPS_IN_BALL, "penalty_weight", "fill", "known"), "one image, the source's aspect ratio"),
    TaskSpec("superresolve", "upsample an image and add detail of its class", superresolve_problem,
             (IMAGE, SUPERRESOLVE_FACTOR, AUTO_CLASS), STEPS_IN_BALL,
             "one image, factor times the source's size", scaled=("step_size", "eps")),
    TaskSpec("sketch", "turn a drawing into a picture of a class", sketch_problem,
             (Field("image", "image", "the drawing", required=True),
              Field("class", "class", "class name or index", required=True)),
             STEPS_IN_BALL, "one image, the drawing's aspect ratio"),
    TaskSpec("paint", "paint a representation feature into a brushed region", paint_problem,
             (IMAGE, Field("mask", "mask", "the brushed region: white (1) = paint here", required=True, many=True),
              Field("feature", "feature", "representation component to paint: its index, its name or a class "
                    "name (the class's top feature); see the model's palette",
                    required=True, many=True)),
             (*STEPS_IN_BALL, "feature_weight", "penalty_weight"), "one image, the source's aspect ratio"),
)}


# ---- results ------------------------------------------------------------------------------------

def finish(model, problem: Problem, result: Result) -> TaskOutput:
    """Results at display size, with the model's verdict on each."""
    classes = (_predict(model, result.images) if result.classes is None else result.classes).tolist()
    images = _resize(result.images.detach().float().cpu(), problem.display_size)
    if problem.known is not None:
        original, known = problem.known
        images = torch.where(known, original, images)
    return TaskOutput(images=images,
                      classes=classes, class_names=[model.meta.classes[c] for c in classes],
                      scores=result.trace[:, -1].tolist(), trace=result.trace.cpu(), stopped=result.stopped,
                      recipe=problem.recipe)


def rebuild(model, recipe: Recipe) -> Problem:
    """The recipe's Problem again; solving it gives the same pixels on the same device."""
    if recipe.model != model.meta.id or recipe.card != card_hash(model.meta):
        raise TaskInputError("model", f"the image was made by model {recipe.model!r} (card {recipe.card}), "
                             f"not by {model.meta.id!r} (card {card_hash(model.meta)})")
    s = spec(recipe.task)
    names = {f.name: f for f in s.fields}
    unknown = set(recipe.inputs) | set(recipe.settings)
    unknown -= set(names)
    if unknown:
        raise TaskInputError("recipe", f"the recipe has fields {recipe.task} does not take: {sorted(unknown)}")
    given = {names[name].arg: value for name, value in {**recipe.inputs, **recipe.settings}.items()}
    return build(model, recipe.task, seed=recipe.seed, **given)


def rerun(model, recipe: Recipe, callback: Callback | None = None) -> TaskOutput:
    problem = rebuild(model, recipe)
    return finish(model, problem, solve(model, problem, callback))
