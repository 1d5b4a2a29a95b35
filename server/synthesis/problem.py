"""A task, reduced to what the optimizer needs: a seed batch, an objective and a geometry.

Problems with the same image size and step settings can be solved together in one batched
`optimize` call (`solve_batch`): this is how the server batches concurrent jobs.
"""
from dataclasses import dataclass, field, replace

import torch

from .objectives import Objective, stacked
from .optimizer import Callback, Progress, Result, optimize, random_start_point
from .recipes import Recipe
from .steps import make_step


@dataclass
class Problem:
    x0: torch.Tensor                  # (N,3,H,W) seeds in [0,1]
    objective: Objective              # per-example score to maximize
    steps: int
    step_size: float
    eps: float
    constraint: str = "l2"
    center: torch.Tensor | None = None   # default: x0
    random_start: bool = False
    seed: int = 0
    amp: bool | None = None           # bfloat16 autocast; None: by the measured rule (see optimize)
    display_size: tuple[int, int] | None = None   # tasks: the size results are shown at
    settings: dict = field(default_factory=dict)  # tasks: every effective setting, weights included
    recipe: "Recipe | None" = None    # tasks.build: what reproduces the result (recipes.py)
    rule: str = "pgd"                 # update rule (steps.RULES)
    patience: int = 0                 # early stopping (see optimize); 0 runs every step
    free: torch.Tensor | None = None  # (N,1|3,H,W) bool: the pixels that may change (default: all)
    known: tuple | None = None        # tasks: (images, mask) shown exactly as given at display size (inpaint)
    projection: object | None = None  # a further constraint with project(x) (consistency.Downsampled)
    carry: object | None = None       # tasks: how results go back to the photo's resolution (photo.Carry)

    @property
    def batch_key(self) -> tuple:
        """Problems with equal keys can share one optimizer run."""
        return (tuple(self.x0.shape[1:]), self.steps, self.step_size, self.eps, self.constraint, self.random_start,
                self.amp, self.rule, self.patience, None if self.projection is None else self.projection.key)

    def __len__(self) -> int:
        return self.x0.shape[0]


def solve(model, problem: Problem, callback: Callback | None = None) -> Result:
    return optimize(model, problem.x0, problem.objective, steps=problem.steps, step_size=problem.step_size,
                    eps=problem.eps, constraint=problem.constraint, center=problem.center,
                    random_start=problem.random_start, seed=problem.seed, callback=callback, amp=problem.amp,
                    rule=problem.rule, patience=problem.patience, free=problem.free,
                    projection=problem.projection)


def solve_batch(model, problems: list[Problem], callbacks: list[Callback | None] | None = None) -> list[Result]:
    """Solve problems with one `batch_key` as one batch; each gets its own slice of the result.

    Each callback sees its own slice; the run stops early only when every callback asked to
    stop, and a stopped problem's result is marked `stopped` at the step it asked. With early
    stopping each problem's result (images, trace, steps) is what it would be alone: its examples
    stop moving when they settle, and its steps end when its last example settled.
    """
    if len({p.batch_key for p in problems}) != 1:
        raise ValueError("problems in one batch must share image size and step settings")
    if len(problems) == 1:
        return [solve(model, problems[0], (callbacks or [None])[0])]
    sizes = [len(p) for p in problems]
    bounds = torch.tensor([0] + sizes).cumsum(0).tolist()
    slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    x0 = torch.cat([p.x0 for p in problems])
    center = torch.cat([p.x0 if p.center is None else p.center for p in problems])
    if problems[0].random_start:  # each problem's own seed decides its own random start
        x0 = torch.cat([_random_start(p) for p in problems])
    callbacks = callbacks or [None] * len(problems)
    stopped_at: dict[int, int] = {}

    def fan_out(progress: Progress) -> bool:
        for i, (cb, sl) in enumerate(zip(callbacks, slices)):
            if i in stopped_at or cb is None:
                continue
            if cb(Progress(progress.step, progress.total, progress.x[sl], progress.scores[sl])):
                stopped_at[i] = progress.step
        return len(stopped_at) == len(problems)

    first = problems[0]
    free = None
    if any(p.free is not None for p in problems):
        free = torch.cat([(torch.ones_like(p.x0[:, :1]) if p.free is None else p.free).bool().expand_as(p.x0)
                          for p in problems])
    projection = None if first.projection is None else type(first.projection).cat([p.projection for p in problems])
    combined = replace(first, x0=x0, center=center, random_start=False, free=free, projection=projection,
                       objective=stacked([p.objective for p in problems], sizes))
    result = solve(model, combined, fan_out)
    return [_slice_result(result, sl, stopped_at.get(i)) for i, sl in enumerate(slices)]


def _slice_result(result: Result, sl: slice, stopped_at: int | None) -> Result:
    done = stopped_at if stopped_at is not None else int(result.settled_at[sl].max())
    return Result(images=result.images[sl], trace=result.trace[sl, :done + 1], steps_done=done,
                  stopped=stopped_at is not None, settled_at=result.settled_at[sl].clamp(max=done),
                  classes=None if result.classes is None else result.classes[sl])


def _random_start(p: Problem) -> torch.Tensor:
    geometry = make_step(p.constraint, p.x0 if p.center is None else p.center, p.eps, p.step_size)
    return random_start_point(geometry, p.x0, p.seed)
