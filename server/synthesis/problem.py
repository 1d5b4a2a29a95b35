"""What the optimizer needs, as one value: seeds, an objective, a constraint and the step settings.

Problems with the same `batch_key` can be solved together in one batched `optimize` call
(`solve_batch`): this is how the server batches concurrent jobs. What a task adds around a
Problem (display size, settings, recipe) is tasks.TaskRun.
"""
from dataclasses import dataclass

import torch

from .constraints import AllOf, Constraint, stack
from .objectives import Objective, stacked
from .optimizer import Callback, Progress, Result, optimize
from .steps import Update


@dataclass
class Problem:
    x0: torch.Tensor                  # (N,3,H,W) seeds in [0,1]
    objective: Objective              # per-example score to maximize
    steps: int
    step_size: float
    constraint: Constraint | None = None   # where the search may go (constraints.py); None: anywhere
    rule: "str | Update" = "pgd"      # update rule (steps.RULES), or an Update (with basis and noise)
    patience: int = 0                 # early stopping (see optimize); 0 runs every step
    amp: bool | None = None           # bfloat16 autocast; None: by the measured rule (see optimize)

    @property
    def batch_key(self) -> tuple:
        """Problems with equal keys can share one optimizer run."""
        return (tuple(self.x0.shape[1:]), self.steps, self.step_size, AllOf(self.constraint or Constraint()).key,
                self.amp, Update.of(self.rule).key, self.patience)

    def __len__(self) -> int:
        return self.x0.shape[0]


def solve(model, problem: Problem, callback: Callback | None = None) -> Result:
    return optimize(model, problem.x0, problem.objective, steps=problem.steps, step_size=problem.step_size,
                    constraint=problem.constraint, rule=problem.rule, patience=problem.patience,
                    callback=callback, amp=problem.amp)


def solve_batch(model, problems: list[Problem], callbacks: list[Callback | None] | None = None) -> list[Result]:
    """Solve problems with one `batch_key` as one batch; each gets its own slice of the result.

    Their constraints stack (constraints.stack). Each callback sees its own slice; the run stops
    early only when every callback asked to stop, and a stopped problem's result is marked
    `stopped` at the step it asked. With early stopping each problem's result (images, trace,
    steps) is what it would be alone: its examples stop moving when they settle, and its steps
    end when its last example settled.
    """
    if len({p.batch_key for p in problems}) != 1:
        raise ValueError("problems in one batch must share image size and step settings")
    if len(problems) == 1:
        return [solve(model, problems[0], (callbacks or [None])[0])]
    sizes = [len(p) for p in problems]
    bounds = torch.tensor([0] + sizes).cumsum(0).tolist()
    slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
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
    combined = Problem(x0=torch.cat([p.x0 for p in problems]),
                       objective=stacked([p.objective for p in problems], sizes), steps=first.steps, step_size=first.step_size,
                       rule=Update.stacked([p.rule for p in problems], sizes), patience=first.patience,
                       amp=first.amp, constraint=stack([p.constraint for p in problems], [p.x0 for p in problems]))
    result = solve(model, combined, fan_out)
    return [_slice_result(result, sl, stopped_at.get(i)) for i, sl in enumerate(slices)]


def _slice_result(result: Result, sl: slice, stopped_at: int | None) -> Result:
    done = stopped_at if stopped_at is not None else int(result.settled_at[sl].max())
    return Result(images=result.images[sl], trace=result.trace[sl, :done + 1], steps_done=done,
                  stopped=stopped_at is not None, settled_at=result.settled_at[sl].clamp(max=done),
                  classes=None if result.classes is None else result.classes[sl])
