"""The one primitive: batched projected gradient ascent on an objective, in input space.

Every task (and the adversary used in training) is a seed image plus an objective handed
to `optimize`, with a constraint (constraints.py) for where the search may go. Random starts,
restarts, schedules and best-iterate tracking belong in wrappers or step classes, not flags.
"""
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Optional

import torch
from torch import nn

from .constraints import Constraint
from .graphs import GradientStep, use_cuda_graph
from .objectives import Objective
from .precision import use_bf16
from .steps import Update


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
    settled_at: torch.Tensor | None = None  # (N,) the step each example stopped moving (early stopping)
    # (N,) the model's class for each of `images`: the argmax of the logits of the pass that scored
    # them last (in bf16 when the run was); None when that pass was skipped (score_final=False)
    classes: torch.Tensor | None = None

    def cpu(self) -> "Result":
        """The same result with every tensor on the host."""
        return replace(self, **{name: getattr(self, name).cpu() for name in ("images", "trace", "settled_at", "classes")
                                if getattr(self, name) is not None})


# A callback returns True to stop the optimization (e.g. a cancelled job).
Callback = Callable[[Progress], Optional[bool]]

# Early stopping: an example has settled when its best objective rose by less than this over the
# last `patience` steps; settled examples stop moving, and the run ends when all have settled.
PLATEAU_TOL = 1e-3


@contextmanager
def fixed_weights(model: nn.Module):
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
             constraint: Constraint | None = None, rule: "str | Update" = "pgd", patience: int = 0,
             callback: Callback | None = None, amp: bool | None = None, score_final: bool = True) -> Result:
    """Maximize `objective` over images starting at x0, staying in `constraint` (constraints.py).

    `model` must provide `outputs(x) -> Outputs` (see RobustModel). `constraint` is bound to x0
    (a ball's centre defaults to it) and always keeps pixels in [0,1]; None: no other constraint.
    Its ball's norm sets the step's geometry and `rule` the update rule (a name in steps.RULES, or a
    steps.Update: the rule with a basis and seeded Langevin noise). Results are deterministic (noise
    and an objective's random view are seeded); a random start is a wrapper
    (`constraints.random_start`), not a flag.
    `patience > 0` stops each example once its objective stops rising (PLATEAU_TOL over
    `patience` steps), and the run once every example has. `amp=True` runs the model in bfloat16
    autocast (the images themselves stay float32); the default, None, lets `precision.use_bf16`
    decide by device and batch size: bf16 pays only for large batches on hardware with bf16 units,
    and is slower than fp32 elsewhere (BENCHMARKS.md). On a GPU the step is replayed from a CUDA
    graph (graphs.py) for runs of a few steps or more. `score_final=False` skips the forward pass
    that scores the final images (adversarial training does not need it).
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if patience < 0:
        raise ValueError(f"patience must be >= 0, got {patience}")
    x0 = x0.detach()
    feasible = (constraint or Constraint()).at(x0)
    geometry = feasible.step(step_size, rule, steps)
    x = x0.clone()
    plateau = _Plateau(len(x0), patience, x0.device)
    amp = use_bf16(x.device, len(x)) if amp is None else amp
    gradient = GradientStep(model, objective, amp, graph=use_cuda_graph(x.device, steps) and objective.view is None)
    trace, stopped, done = [], False, 0
    with fixed_weights(model):
        for done in range(steps + 1):
            scores, grad, classes = gradient(x) if done < steps else _final_pass(model, x, objective, amp)
            trace.append(scores)
            if callback is not None and callback(Progress(done, steps, x, scores)):
                stopped = True
                break
            if done == steps or plateau.update(done, scores):
                break
            moved = feasible.project(geometry.step(x, feasible.tangent(grad)))
            x = torch.where(plateau.moving(x), moved, x) if patience else moved
            if done + 1 == steps and not score_final:
                done, classes = steps, None
                break
    return Result(images=x, trace=torch.stack(trace, 1), steps_done=done, stopped=stopped,
                  settled_at=plateau.settled_at.clamp(max=done), classes=classes)


class _Plateau:
    """Per-example early stopping: which examples still rise, and the step each one settled."""

    def __init__(self, n: int, patience: int, device):
        self.patience, self.best = patience, []
        self.active = torch.ones(n, dtype=torch.bool, device=device)
        self.settled_at = torch.full((n,), torch.iinfo(torch.long).max, dtype=torch.long, device=device)

    def update(self, step: int, scores: torch.Tensor) -> bool:
        """Record this step's scores; True when every example has settled."""
        if not self.patience:
            return False
        self.best = self.best[-self.patience:] + [scores if not self.best else torch.maximum(self.best[-1], scores)]
        if step >= self.patience:
            flat = self.best[-1] - self.best[0] < PLATEAU_TOL
            self.settled_at = torch.where(self.active & flat, step, self.settled_at)
            self.active &= ~flat
        return not self.active.any()

    def moving(self, x: torch.Tensor) -> torch.Tensor:
        """(N,...) bool shaped like x: the examples that still move."""
        return self.active.view(-1, *([1] * (x.dim() - 1))).expand_as(x)


def _final_pass(model, x, objective, amp: bool):
    """The objective and the predicted classes at the final images (no gradient)."""
    with torch.no_grad(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        out = model.outputs(x)
        return objective(out).float(), None, out.logits.argmax(1)
