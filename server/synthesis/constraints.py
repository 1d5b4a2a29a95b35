"""Constraints: the set of images a search stays in, as projections that compose.

A constraint maps a batch of images onto its set (`project`) and a gradient onto the directions
that stay in it (`tangent`). Kinds combine with `&`; `at(x0)` binds a constraint to a run's start
(a ball's centre and the known pixels' values default to it) and adds the [0,1] pixel range, and
the bound parts project in a fixed order: the ball, the pixel range, then the known pixels.

    Ball("l2", 3.0)                           # within 3.0 (L2, [0,1] pixel units) of the start
    Ball("l2", 3.0) & KnownPixels(free)       # ... and only the `free` pixels move

The ball's norm also sets the step's geometry (steps.py: how a step is normalized, how a random
start is drawn). A new kind (consistency with a low-resolution input: a projection onto the images
whose downsampling equals it) is one more class with `project`, `tangent`, `bind`, `key` and `stack`
(and its `order`), not another argument of `optimize`.
"""
import torch

from .steps import Step, Update, make_step, step_class


class Constraint:
    """Base: every image (no constraint). `order` places a kind among the bound parts."""

    order = 0

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def tangent(self, g: torch.Tensor) -> torch.Tensor:
        return g

    def at(self, x0: torch.Tensor) -> "AllOf":
        """This constraint bound to a run starting at x0 (N,3,H,W): defaults resolved, on x0's device."""
        return AllOf(self).at(x0)

    @property
    def key(self) -> tuple | None:
        """Problems whose constraints have equal keys can be solved as one batch (None: any)."""
        return None

    def __and__(self, other: "Constraint") -> "AllOf":
        return AllOf(self, other)

    def bind(self, x0: torch.Tensor) -> "Constraint":
        """This kind alone, bound to x0 (see `at`)."""
        return self

    @classmethod
    def stack(cls, parts: list, starts: list[torch.Tensor]) -> "Constraint":
        """One bound part for the concatenated batch; `parts` holds None where a problem lacks this kind."""
        return cls()


class Ball(Constraint):
    """Within `eps` of `center` (default: the start) in a norm: 'l2', 'linf' or 'none' (anywhere)."""

    order = 0

    def __init__(self, norm: str | type[Step] = "l2", eps: float = 0.0, center: torch.Tensor | None = None):
        self.geometry = step_class(norm)
        if eps < 0:
            raise ValueError(f"eps must be non-negative, got {eps}")
        self.eps, self.center = float(eps), center

    @property
    def norm(self) -> str:
        return self.geometry.name

    @property
    def key(self) -> tuple:
        return (self.geometry, self.eps)

    def bind(self, x0):
        center = x0 if self.center is None else self.center
        return Ball(self.geometry, self.eps, center.detach().to(x0.device))

    def project(self, x):
        return self.geometry.ball(x, self.center, self.eps)

    def step(self, step_size: float, rule: "str | Update" = "pgd", steps: int = 0) -> Step:
        """The update in this ball's geometry (steps.py), with the rule's schedule over `steps`."""
        return make_step(self.geometry, self.center, self.eps, step_size, rule, steps)

    @classmethod
    def stack(cls, parts, starts):
        first = parts[0]
        if any(p is None or p.key != first.key for p in parts):
            raise ValueError("problems in one batch must share their ball (norm and eps)")
        return cls(first.geometry, first.eps, torch.cat([p.center for p in parts]))


class PixelRange(Constraint):
    """Pixel values in [0, 1]."""

    order = 1

    def project(self, x):
        return x.clamp(0, 1)


class KnownPixels(Constraint):
    """Only the `free` pixels change; the others keep `values` (default: the start) exactly.

    `free` is bool, broadcastable to the images ((N|1, 1|3, H, W)). Its tangent spends a step's
    whole length on the free pixels.
    """

    order = 2

    def __init__(self, free: torch.Tensor, values: torch.Tensor | None = None):
        self.free, self.values = free, values

    def bind(self, x0):
        values = x0 if self.values is None else self.values.to(x0.device)
        return KnownPixels(self.free.to(x0.device).bool().expand_as(x0), values.detach())

    def project(self, x):
        return torch.where(self.free, x, self.values)

    def tangent(self, g):
        return g * self.free

    @classmethod
    def stack(cls, parts, starts):
        free = [torch.ones_like(x0, dtype=torch.bool) if p is None else p.free for p, x0 in zip(parts, starts)]
        values = [x0 if p is None else p.values for p, x0 in zip(parts, starts)]
        return cls(torch.cat(free), torch.cat(values))


class AllOf(Constraint):
    """Several constraints at once: each projection in turn (by `order`), each tangent in turn.

    Bound (`at`), it holds exactly one ball (Ball('none') if none was given) and the pixel range.
    """

    def __init__(self, *parts: Constraint):
        flat = [q for p in parts for q in (p.parts if isinstance(p, AllOf) else [p]) if type(q) is not Constraint]
        self.parts = sorted(flat, key=lambda p: p.order)

    @property
    def ball(self) -> Ball:
        return next((p for p in self.parts if isinstance(p, Ball)), Ball("none"))

    @property
    def key(self) -> tuple:
        return (self.ball.key, *(p.key for p in self.parts if p.key is not None and not isinstance(p, Ball)))

    def at(self, x0):
        parts = [p for p in self.parts if not isinstance(p, (Ball, PixelRange))]
        return AllOf(self.ball.bind(x0), PixelRange(), *(p.bind(x0) for p in parts))

    def project(self, x):
        for p in self.parts:
            x = p.project(x)
        return x

    def tangent(self, g):
        for p in self.parts:
            g = p.tangent(g)
        return g

    def step(self, step_size: float, rule: "str | Update" = "pgd", steps: int = 0) -> Step:
        return self.ball.step(step_size, rule, steps)

    def part(self, kind: type) -> Constraint | None:
        return next((p for p in self.parts if type(p) is kind), None)


def stack(constraints: list[Constraint | None], starts: list[torch.Tensor]) -> AllOf:
    """One bound constraint for problems solved as one batch (their starts concatenated in order)."""
    bound = [(c or Constraint()).at(x0) for c, x0 in zip(constraints, starts)]
    kinds = {type(p): None for b in bound for p in b.parts}
    return AllOf(*(kind.stack([b.part(kind) for b in bound], starts) for kind in kinds))


def random_start(x0: torch.Tensor, constraint: Constraint | None, step_size: float,
                 seed: int | None = 0) -> torch.Tensor:
    """A random point of the constraint near x0 (the ball's random perturbation, projected): the start
    of an adversary. Give the ball its centre, so that the run stays around x0, not the random point."""
    feasible = (constraint or Constraint()).at(x0.detach())
    gen = torch.Generator().manual_seed(0 if seed is None else seed)
    return feasible.project(feasible.step(step_size).random_perturb(x0.detach(), gen))
