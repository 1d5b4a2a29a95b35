"""The one primitive: batched projected gradient ascent on an objective, in input space.

Every task (and the adversary used in training) is a seed image plus an objective handed
to `optimize`. Restarts, schedules and best-iterate tracking belong in wrappers, not flags.
"""
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn

from .objectives import Objective
from .precision import use_bf16
from .steps import Step, make_step


@dataclass
class Progress:
    step: int                 # steps done so far
    total: int
    x: torch.Tensor           # current images (N,3,H,W), detached
    scores: torch.Tensor      # (N,) objective at x before this step


@dataclass
class Result:
    images: torch.Tensor      # (N,3,H,W) in [0,1]
    trace: torch.Tensor       # (N, steps_done + 1): objective at the start and after each step
    steps_done: int
    stopped: bool             # True when the callback asked to stop early


# A callback returns True to stop the optimization (e.g. a cancelled job).
Callback = Callable[[Progress], Optional[bool]]


@contextmanager
def frozen(model: nn.Module):
    """Eval mode and no parameter gradients for the duration; restores both afterwards."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was_training)


def optimize(model: nn.Module, x0: torch.Tensor, objective: Objective, *, steps: int, step_size: float,
             eps: float = 0.0, constraint: str | type[Step] = "l2", center: torch.Tensor | None = None,
             random_start: bool = False, seed: int | None = 0, callback: Callback | None = None,
             score_final: bool = True, amp: bool | None = None) -> Result:
    """Maximize `objective` over images starting at x0, constrained around `center` (default x0).

    `model` must provide `outputs(x) -> Outputs` (see RobustModel). Results are deterministic
    for a given seed; the seed only matters with a random start. `score_final=False` skips
    the forward pass that scores the final images (adversarial training does not need it).
    `amp=True` runs the model in bfloat16 autocast (the images themselves stay float32); the
    default, None, lets `precision.use_bf16` decide by device and batch size: bf16 pays only for
    large batches on hardware with bf16 units, and is slower than fp32 elsewhere (BENCHMARKS.md).
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    x0 = x0.detach()
    geometry = make_step(constraint, x0 if center is None else center.detach(), eps, step_size)
    x = random_start_point(geometry, x0, seed) if random_start else x0.clone()
    amp = use_bf16(x.device, len(x)) if amp is None else amp
    trace, stopped, done = [], False, 0
    with frozen(model):
        for done in range(steps + 1):
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
                scores, grad = _scores_and_grad(model, x, objective, need_grad=done < steps)
            trace.append(scores)
            if callback is not None and callback(Progress(done, steps, x, scores)):
                stopped = True
                break
            if done == steps:
                break
            x = geometry.project(geometry.step(x, grad)).clamp(0, 1)
            if done + 1 == steps and not score_final:
                done = steps
                break
    return Result(images=x, trace=torch.stack(trace, 1), steps_done=done, stopped=stopped)


def random_start_point(geometry: Step, x: torch.Tensor, seed: int | None) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0 if seed is None else seed)
    return geometry.project(geometry.random_perturb(x, gen)).clamp(0, 1)


def _scores_and_grad(model, x, objective, need_grad: bool):
    if not need_grad:
        with torch.no_grad():
            return objective(model.outputs(x)).float(), None
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        scores = objective(model.outputs(x))
        # Examples are independent (eval-mode BN), so the gradient of the sum is per-example.
        (grad,) = torch.autograd.grad(scores.sum(), x)
    return scores.detach().float(), grad.float()
