"""A task run: `build` a task's `TaskRun` from its inputs and settings, `solve` it, `rebuild` it from a recipe.

    run = tasks.build(model, "inpaint", image=x, mask=m)     # validated, with its recipe
    recipe = tasks.check(card, "inpaint", image=x, mask=m)   # the same checks and recipe, from a card alone
    out = tasks.finish(model, run, tasks.solve(model, run))   # display-ready images
    out = tasks.run(model, "generate", class_="dog", n=4)     # the two in one

The input named `class` everywhere else is `class_` in Python.
"""
from dataclasses import dataclass, field

import torch

from ..constraints import Ball, Constraint, KnownPixels
from ..errors import FieldError
from ..features.names import resolve_features
from ..objectives import Objective, stem_prior, transformed
from ..optimizer import Callback, Result
from ..problem import Problem, solve as solve_problem, solve_batch as solve_problems
from ..recipes import Recipe, card_hash, reruns_on
from ..steps import Update
from .inputs import coerce_inputs, task_settings
from .registry import LOOKS_OFF, spec
from .results import TaskOutput, finish


@dataclass
class TaskRun:
    """A task ready to solve: the optimizer's Problem, and what the task needs around it."""

    problem: Problem
    display_size: tuple[int, int]       # the size results are shown at
    settings: dict = field(default_factory=dict)   # every effective setting, weights included
    recipe: Recipe | None = None        # what reproduces the result (recipes.py); set by `build`
    carry: object | None = None         # how results go back to the photo's resolution (photo.Carry)
    notes: list[str] | None = None      # per image, what the task decided that a user should know ("": nothing)

    @property
    def steps(self) -> int:
        return self.problem.steps

    @property
    def batch_key(self) -> tuple:
        """Runs with equal keys can share one optimizer run (solve_batch)."""
        return self.problem.batch_key

    def __len__(self) -> int:
        return len(self.problem)


def ball_run(x0, objective: Objective, settings: dict, display_size: tuple[int, int], *, free=None,
             also: Constraint | None = None, carry=None, center=None, seed: int = 0) -> TaskRun:
    """The tasks' usual run: maximize `objective` from x0 within the settings' L2 ball (eps) around
    `center` (default x0), with their step size, rule and patience, and the step's basis and noise
    (seeded with `seed`) where the task has them; with `free`, only those pixels move; `also` is a
    further constraint (super-resolution's consistency); `carry` takes results to the photo's size."""
    constraint = Ball("l2", float(settings["eps"]), center)
    if free is not None:
        constraint = constraint & KnownPixels(free)
    if also is not None:
        constraint = constraint & also
    problem = Problem(x0=x0, objective=objective, steps=settings["steps"], step_size=float(settings["step_size"]),
                      constraint=constraint, rule=update(settings, seed), patience=settings["patience"])
    return TaskRun(problem, display_size, settings, carry=carry)


def check(model, task: str, **given) -> Recipe:
    """The recipe `build` would record for these inputs, from the model's card alone (`model.meta`,
    and whether it has seeds): every field and what the task's builder would refuse is checked, and
    no tensor reaches a device, no model runs. An automatic class stays automatic (None) in the
    recipe, as `build` records it. What a front end without the model queues (docs/DEPLOY.md)."""
    s, args, _, settings = _checked(model, task, given)
    return _recipe(model, s, args, settings)


def update(settings: dict, seed: int) -> "str | Update":
    """The settings' update rule: the rule's name, or an Update when a basis or noise is set."""
    basis, noise = settings.get("basis", LOOKS_OFF["basis"]), float(settings.get("noise", LOOKS_OFF["noise"]))
    if basis == LOOKS_OFF["basis"] and not noise:
        return settings["rule"]
    return Update(settings["rule"], basis, noise, seed)


def with_looks(model, objective: Objective, settings: dict, seed: int) -> Objective:
    """`objective` with the settings' levers against artifacts (docs/TASKS.md, "Looks"): minus
    bn_prior times the first-layer statistics prior, seen through a random view (jitter, flip)
    seeded with `seed`. At their legacy values the objective is returned as it is."""
    if settings.get("bn_prior", 0):
        objective = objective - settings["bn_prior"] * stem_prior(*model.stem_statistics())
    if settings.get("jitter", 0) or settings.get("flip", "off") == "on":
        objective = transformed(objective, jitter=settings.get("jitter", 0),
                                flip=0.5 if settings.get("flip") == "on" else 0.0, seed=seed)
    return objective


def build(model, task: str, **given) -> TaskRun:
    """The task's TaskRun from inputs and settings by their registry names (`class_` for class).

    Every field is checked (inputs.py, then the task's own `check`) before the task's builder runs;
    unknown names, missing required inputs and bad values raise FieldError naming the field. Its
    recipe is the one `check` gives.
    """
    s, args, inputs, settings = _checked(model, task, given)
    run = s.build(model, **{f.arg: inputs[f.arg] for f in s.inputs}, seed=inputs["seed"], settings=settings)
    run.settings = settings
    run.recipe = _recipe(model, s, args, settings)
    return run


def _checked(model, task: str, given: dict) -> tuple:
    """(spec, the given args with defaults, the coerced inputs, the effective settings), all checked."""
    s = spec(task)
    by_arg = {f.arg: f for f in s.fields}
    for name in given:
        if name not in by_arg:
            raise FieldError(name, f"{task} takes no {name!r}; it takes {', '.join(f.name for f in s.fields)}")
    for f in s.inputs:
        if f.required and given.get(f.arg) is None:
            raise FieldError(f.name, f"{f.name} is required for {task}")
    args = {f.arg: given[f.arg] if given.get(f.arg) is not None else f.default for f in s.fields}
    for f in s.inputs:  # a feature by name or by class (its top feature): the recipe keeps the index
        if f.kind == "feature" and args[f.arg] is not None:
            args[f.arg] = _feature_indices(model, args[f.arg])
    inputs = coerce_inputs(model, s, args)
    scale = s.result_scale(model, inputs) if s.result_scale else 1.0
    settings = task_settings(model, s, {name: args[name] for name in s.settings}, scale)
    if s.check:   # the task's own checks; they may settle a setting (see TaskSpec)
        settings = s.check(model, **{f.arg: inputs[f.arg] for f in s.inputs}, seed=inputs["seed"],
                           settings=settings) or settings
    return s, args, inputs, settings


def _recipe(model, s, args: dict, settings: dict) -> Recipe:
    return Recipe(task=s.id, model=model.meta.id, card=card_hash(model.meta), seed=args["seed"],
                  settings=settings, inputs={f.name: args[f.arg] for f in s.inputs})


def batch_key(model, recipe: Recipe) -> tuple:
    """The `batch_key` that the recipe's TaskRun has (`rebuild(model, recipe).batch_key`), from the
    card and the recipe alone: every task's run is a `ball_run` from a start of the model's input
    size (or the task's `start`, with its further constraint), so the key is that of such a run
    from an empty start on torch's "meta" device. A front end without the model batches queued jobs by it; workers
    still batch only problems whose keys agree."""
    s = spec(recipe.task)
    size, also = s.start(model, recipe.inputs) if s.start else ((model.meta.input_size,) * 2, None)
    start = torch.empty((1, 3, *size), device="meta")
    return ball_run(start, None, recipe.settings, tuple(size), also=also).batch_key


def _feature_indices(model, feature):
    try:
        return resolve_features(model, feature)
    except LookupError as e:
        raise FieldError("feature", str(e)) from None


def solve(model, run: TaskRun, callback: Callback | None = None) -> Result:
    return solve_problem(model, run.problem, callback)


def solve_batch(model, runs: list[TaskRun], callbacks: list[Callback | None] | None = None) -> list[Result]:
    """Runs with one `batch_key` solved as one batch (problem.solve_batch); a result per run."""
    return solve_problems(model, [r.problem for r in runs], callbacks)


def run(model, task: str, *, callback: Callback | None = None, **given) -> TaskOutput:
    built = build(model, task, **given)
    return finish(model, built, solve(model, built, callback))


def rebuild(model, recipe: Recipe) -> TaskRun:
    """The recipe's TaskRun again; solving it gives the same pixels on the same device."""
    return build(model, recipe.task, **_recipe_args(model, recipe))


def recheck(model, recipe: Recipe) -> Recipe:
    """`check` of a recipe: what `rebuild` would build, checked against the card alone."""
    return check(model, recipe.task, **_recipe_args(model, recipe))


def _recipe_args(model, recipe: Recipe) -> dict:
    """The recipe's seed, inputs and settings as `build`'s keywords, once its model and card are this one's."""
    if not reruns_on(recipe, model.meta):
        raise FieldError("model", f"the image was made by model {recipe.model!r} (card {recipe.card}), "
                         f"not by {model.meta.id!r} (card {card_hash(model.meta)})")
    s = spec(recipe.task)
    names = {f.name: f for f in s.fields}
    unknown = set(recipe.inputs) | set(recipe.settings)
    unknown -= set(names)
    if unknown:
        raise FieldError("recipe", f"the recipe has fields {recipe.task} does not take: {sorted(unknown)}")
    # settings added after the recipe was made: their legacy values, which gave its results then
    legacy = {name: names[name].legacy for name in s.settings
              if name not in recipe.settings and names[name].legacy is not None}
    given = {names[name].arg: value for name, value in {**recipe.inputs, **legacy, **recipe.settings}.items()}
    return {"seed": recipe.seed, **given}


def rerun(model, recipe: Recipe, callback: Callback | None = None) -> TaskOutput:
    built = rebuild(model, recipe)
    return finish(model, built, solve(model, built, callback))
