"""Step classes own the geometry of the search: how to step along a gradient, how to
project back into the ball around `center` (`ball`, which constraints.Ball applies), and how to
start at random inside it.

All images are (N,3,H,W) in [0,1]; `eps` and `step_size` are in those pixel units.

An update rule (`Rule`) turns each gradient into the direction the geometry steps along, and
sets the step size of each step: plain normalized-gradient ascent (the paper's, 'pgd'), or
momentum / Adam-style directions with a cosine-decaying step size. Rules keep per-example
(per-pixel) state, so examples in one batch never influence each other.
"""
import math

import torch


class Step:
    """Base class: an unconstrained normalized-gradient (L2) step."""

    name = "none"

    def __init__(self, center: torch.Tensor, eps: float, step_size: float, rule: "Rule | None" = None):
        if step_size <= 0:
            raise ValueError(f"step_size must be positive, got {step_size}")
        if eps < 0:
            raise ValueError(f"eps must be non-negative, got {eps}")
        self.center, self.eps, self.step_size = center, float(eps), float(step_size)
        self.rule = rule or Rule()

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return self.ball(x, self.center, self.eps)

    @staticmethod
    def ball(x: torch.Tensor, center: torch.Tensor, eps: float) -> torch.Tensor:
        """x projected onto this geometry's ball of radius eps around center (here: everything)."""
        return x

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """One step of the rule's size along the rule's direction, in this geometry."""
        return self.move(x, self.rule.direction(grad), self.step_size * self.rule.next_scale())

    def move(self, x: torch.Tensor, d: torch.Tensor, size: float) -> torch.Tensor:
        return x + size * d / _per_example_norm(d).clamp_min(1e-12)

    def random_perturb(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return x + self.step_size * noise / _per_example_norm(noise)


class L2Step(Step):
    """Normalized-gradient steps inside an L2 ball of radius eps around the centre."""

    name = "l2"

    @staticmethod
    def ball(x, center, eps):
        delta = x - center
        scale = (eps / _per_example_norm(delta).clamp_min(1e-12)).clamp(max=1.0)
        return center + delta * scale

    def random_perturb(self, x, generator):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return x + self.eps * noise / _per_example_norm(noise)


class LinfStep(Step):
    """Signed-gradient steps inside an L-infinity box of half-width eps around the centre."""

    name = "linf"

    @staticmethod
    def ball(x, center, eps):
        return center + (x - center).clamp(-eps, eps)

    def move(self, x, d, size):
        return x + size * d.sign()

    def random_perturb(self, x, generator):
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return x + (2 * noise - 1) * self.eps


STEPS = {cls.name: cls for cls in (Step, L2Step, LinfStep)}


class Rule:
    """The paper's rule ('pgd'): the raw gradient, the same step size every step."""

    name = "pgd"

    def __init__(self, steps: int = 0):
        self.steps, self.t = steps, 0

    def direction(self, grad: torch.Tensor) -> torch.Tensor:
        return grad

    def next_scale(self) -> float:
        self.t += 1
        return self.scale(self.t - 1)

    def scale(self, t: int) -> float:
        return 1.0


class Cosine(Rule):
    """Step size decaying from step_size to FLOOR * step_size along half a cosine over the run: long
    steps while far from the optimum, short ones to settle (no oscillation at the ball's edge)."""

    name = "cosine"
    FLOOR = 0.1

    def scale(self, t):
        if self.steps <= 1:
            return 1.0
        return self.FLOOR + (1 - self.FLOOR) * 0.5 * (1 + math.cos(math.pi * t / (self.steps - 1)))


class Momentum(Cosine):
    """Heavy-ball momentum on per-example normalized gradients, with the cosine schedule: consistent
    directions build up speed, noisy ones cancel."""

    name = "momentum"
    BETA = 0.8

    def __init__(self, steps: int = 0):
        super().__init__(steps)
        self.velocity = None

    def direction(self, grad):
        g = grad / _per_example_norm(grad).clamp_min(1e-12)
        self.velocity = g if self.velocity is None else self.BETA * self.velocity + g
        return self.velocity


class Adam(Cosine):
    """Adam's bias-corrected moments per pixel (the geometry then scales the step), with the cosine
    schedule: pixels whose gradient is small but steady move as much as the loud ones."""

    name = "adam"
    BETA1, BETA2 = 0.9, 0.99

    def __init__(self, steps: int = 0):
        super().__init__(steps)
        self.m = self.v = None
        self.k = 0

    def direction(self, grad):
        self.k += 1
        if self.m is None:
            self.m, self.v = torch.zeros_like(grad), torch.zeros_like(grad)
        self.m = self.BETA1 * self.m + (1 - self.BETA1) * grad
        self.v = self.BETA2 * self.v + (1 - self.BETA2) * grad ** 2
        m_hat, v_hat = self.m / (1 - self.BETA1 ** self.k), self.v / (1 - self.BETA2 ** self.k)
        # the denominator's floor is relative to each example's gradient scale, so that flat
        # regions (a zero gradient) do not get huge steps
        floor = 1e-3 * v_hat.flatten(1).mean(1).sqrt().view(-1, *([1] * (grad.dim() - 1))) + 1e-20
        return m_hat / (v_hat.sqrt() + floor)


RULES = {cls.name: cls for cls in (Rule, Cosine, Momentum, Adam)}


def step_class(norm) -> type[Step]:
    """A norm's name ('l2', 'linf', 'none') or a Step subclass -> the Step subclass."""
    if isinstance(norm, type) and issubclass(norm, Step):
        return norm
    if norm not in STEPS:
        raise ValueError(f"unknown constraint {norm!r}; choose one of {sorted(STEPS)}")
    return STEPS[norm]


def make_step(constraint, center: torch.Tensor, eps: float, step_size: float, rule: str = "pgd",
              steps: int = 0) -> Step:
    """`constraint` is a name ('l2', 'linf', 'none') or a Step subclass; `rule` a name in RULES,
    given the run's number of steps (for its schedule)."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose one of {sorted(RULES)}")
    return step_class(constraint)(center, eps, step_size, RULES[rule](steps))


def _per_example_norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))
