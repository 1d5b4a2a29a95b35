"""A task, reduced to what the optimizer needs: a seed batch, an objective and a geometry.

Problems with the same image size and step settings can be solved together in one batched
`optimize` call (`solve_batch`): this is how the server batches concurrent jobs.
"""
from dataclasses import dataclass, field, replace

import torch

from .objectives import Objective, Outputs
from .optimizer import Callback, Progress, Result, optimize, random_start_point
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
    info: dict = field(default_factory=dict)   # task-specific extras for the caller (e.g. classes)

    @property
    def batch_key(self) -> tuple:
        """Problems with equal keys can share one optimizer run."""
        return (tuple(self.x0.shape[1:]), self.steps, self.step_size, self.eps, self.constraint, self.random_start,
                self.amp)

    def __len__(self) -> int:
        return self.x0.shape[0]


def solve(model, problem: Problem, callback: Callback | None = None) -> Result:
    return optimize(model, problem.x0, problem.objective, steps=problem.steps, step_size=problem.step_size,
                    eps=problem.eps, constraint=problem.constraint, center=problem.center,
                    random_start=problem.random_start, seed=problem.seed, callback=callback, amp=problem.amp)


def _slice_outputs(o: Outputs, sl: slice) -> Outputs:
    return Outputs(x=o.x[sl], logits=o.logits[sl], features=o.features[sl], feature_map=o.feature_map[sl])


def stack_objectives(objectives: list[Objective], sizes: list[int]) -> Objective:
    """One objective over a concatenated batch: objective i scores its own slice."""
    bounds = torch.tensor([0] + sizes).cumsum(0).tolist()
    slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    return Objective(lambda o: torch.cat([obj(_slice_outputs(o, sl)) for obj, sl in zip(objectives, slices)]),
                     " | ".join(obj.description for obj in objectives))


def solve_batch(model, problems: list[Problem], callbacks: list[Callback | None] | None = None) -> list[Result]:
    """Solve problems with one `batch_key` as one batch; each gets its own slice of the result.

    Each callback sees its own slice; the run stops early only when every callback asked to
    stop, and a stopped problem's result is marked `stopped` at the step it asked.
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
    combined = replace(first, x0=x0, center=center, random_start=False,
                       objective=stack_objectives([p.objective for p in problems], sizes))
    result = solve(model, combined, fan_out)
    return [Result(images=result.images[sl], trace=result.trace[sl], steps_done=stopped_at.get(i, result.steps_done),
                   stopped=i in stopped_at) for i, sl in enumerate(slices)]


def _random_start(p: Problem) -> torch.Tensor:
    geometry = make_step(p.constraint, p.x0 if p.center is None else p.center, p.eps, p.step_size)
    return random_start_point(geometry, p.x0, p.seed)
