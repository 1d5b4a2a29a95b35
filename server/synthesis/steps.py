"""Step classes own the geometry of the search: how to step along a gradient, how to
project back into the ball around `center` (`ball`, which constraints.Ball applies), and how to
start at random inside it.

All images are (N,3,H,W) in [0,1]; `eps` and `step_size` are in those pixel units.

An update rule (`Rule`) turns each gradient into the direction the geometry steps along, and
sets the step size of each step: plain normalized-gradient ascent (the paper's, 'pgd'), or
momentum / Adam-style directions with a cosine-decaying step size. Rules keep per-example
(per-pixel) state, so examples in one batch never influence each other.

An `Update` names a rule and two options of every rule (issue 20): the `basis` its gradients are
taken in (`BASES`: 'pixel', or 'fourier', the gradient filtered as if the image were parameterized
by its colour-decorrelated Fourier spectrum, lucent's and the robustness library's `FourierStep`
idea) and Langevin `noise` (seeded Gaussian noise added after each step). `Update(rule)` with no
options is the bare rule, bit for bit.
"""
import math
from dataclasses import dataclass

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
        """One step of the rule's size along the rule's direction, in this geometry (plus the
        rule's noise, if any)."""
        size = self.step_size * self.rule.next_scale()
        moved = self.move(x, self.rule.direction(self.rule.basis(grad)), size)
        return moved if not self.rule.noise else moved + self.rule.perturbation(x, size)

    def move(self, x: torch.Tensor, d: torch.Tensor, size: float) -> torch.Tensor:
        return x + size * d / _per_example_norm(d).clamp_min(1e-12)

    def random_perturb(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """x moved to a random point `start_radius` away (L2), each example its own direction."""
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return x + self.start_radius * noise / _per_example_norm(noise)

    @property
    def start_radius(self) -> float:
        """How far a random start lies: one step where there is no ball."""
        return self.step_size


class L2Step(Step):
    """Normalized-gradient steps inside an L2 ball of radius eps around the centre."""

    name = "l2"

    @staticmethod
    def ball(x, center, eps):
        delta = x - center
        scale = (eps / _per_example_norm(delta).clamp_min(1e-12)).clamp(max=1.0)
        return center + delta * scale

    @property
    def start_radius(self) -> float:
        """On the ball's sphere."""
        return self.eps


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
    """The paper's rule ('pgd'): the raw gradient, the same step size every step.

    Every rule also has a `basis` (a linear map applied to each gradient first; identity by
    default) and Langevin `noise`: after each step of length L, Gaussian noise of expected L2
    norm `noise * L` per example, seeded (`example_seeds`) and shaped by the same basis.
    """

    name = "pgd"

    def __init__(self, steps: int = 0, basis: "Basis | None" = None, noise: float = 0.0,
                 seed: "int | tuple[int, ...]" = 0):
        self.steps, self.t = steps, 0
        self.basis = basis or Basis()
        self.noise, self.seed, self.generators = float(noise), seed, None

    def perturbation(self, x: torch.Tensor, size: float) -> torch.Tensor:
        """Langevin noise for a step of length `size`: per example, norm noise * size, each example's
        from its own generator (example_seeds), so that a batch of jobs cannot influence one another."""
        if self.generators is None:
            self.generators = [torch.Generator().manual_seed(s) for s in example_seeds(self.seed, len(x))]
        z = torch.stack([torch.randn(x.shape[1:], generator=g, dtype=x.dtype) for g in self.generators]).to(x.device)
        z = self.basis(z)
        return self.noise * size * z / _per_example_norm(z).clamp_min(1e-12)

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

    def __init__(self, steps: int = 0, **options):
        super().__init__(steps, **options)
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

    def __init__(self, steps: int = 0, **options):
        super().__init__(steps, **options)
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


def example_seeds(seed: "int | tuple[int, ...]", n: int) -> tuple[int, ...]:
    """The noise seed of each of n examples: a run's seed spread over its examples, or one per example."""
    if isinstance(seed, tuple):
        if len(seed) != n:
            raise ValueError(f"{len(seed)} noise seeds for {n} examples")
        return seed
    return tuple((seed * 1_000_003 + i) % 2**63 for i in range(n))


class Basis:
    """The pixel basis: gradients as they are."""

    name = "pixel"

    def __call__(self, g: torch.Tensor) -> torch.Tensor:
        return g


class ColourBasis(Basis):
    """Gradients as steps on colour-decorrelated pixels: x = C · t, so a step on t moves x by C Cᵀ g
    (C: lucent's square root of ImageNet's colour covariance). Moves along natural colour directions
    (mostly brightness) are long, single-channel ones short."""

    name = "colour"
    # lucent's color_correlation_svd_sqrt, divided by its largest column norm
    COLOUR = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
    COLOUR = COLOUR / COLOUR.norm(dim=0).max()

    def __call__(self, g):
        c = self.COLOUR.to(g.device, g.dtype)
        t = (c.T @ g.flatten(2)).view_as(g)        # (N,3,H*W) matmuls: 10x faster than einsum here
        return (c @ self.filter(t).flatten(2)).view_as(g)

    def filter(self, t: torch.Tensor) -> torch.Tensor:
        return t


class FourierBasis(ColourBasis):
    """Gradients as steps on a colour-decorrelated, 1/f-scaled Fourier parameterization of the image.

    With x = C · irfft2(w · p) (C: lucent's square root of ImageNet's colour covariance, w = 1/f,
    orthonormal FFT), a gradient step on p moves x by C · irfft2(w² · rfft2(Cᵀ g)): this map. Low
    frequencies and natural colour directions get long steps, pixel-level checkerboards and
    single-channel (saturating) moves short ones; the geometry then sets the step's length as
    always. `decay` is w's power of 1/f (lucent's decay_power).
    """

    name = "fourier"
    DECAY = 1.0

    def __init__(self, decay: float | None = None):
        self.decay = self.DECAY if decay is None else decay
        self.scale = None   # (h, w//2+1) spectrum weights w², built at the first gradient's size

    def filter(self, t):
        h, w = t.shape[-2:]
        if self.scale is None or self.scale.shape != (h, w // 2 + 1) or self.scale.device != t.device:
            fy, fx = torch.fft.fftfreq(h, device=t.device)[:, None], torch.fft.rfftfreq(w, device=t.device)[None]
            f = (fy ** 2 + fx ** 2).sqrt().clamp_min(1.0 / max(h, w)).to(t.dtype)
            self.scale = f ** (-2 * self.decay)
        return torch.fft.irfft2(torch.fft.rfft2(t, norm="ortho") * self.scale, s=(h, w), norm="ortho")


BASES = {cls.name: cls for cls in (Basis, ColourBasis, FourierBasis)}


@dataclass(frozen=True)
class Update:
    """How each step is taken: a rule (RULES), the basis of its gradients (BASES) and Langevin noise
    (0: none) drawn from generators seeded by `seed` (one per example: `example_seeds`). Problems
    with equal `key`s batch together (`stacked`: their examples keep their own seeds)."""

    rule: str = "pgd"
    basis: str = "pixel"
    noise: float = 0.0
    seed: "int | tuple[int, ...]" = 0

    @classmethod
    def of(cls, rule: "str | Update") -> "Update":
        return rule if isinstance(rule, Update) else cls(rule)

    @property
    def key(self) -> tuple:
        return (self.rule, self.basis, self.noise)

    @classmethod
    def stacked(cls, updates: "list[str | Update]", sizes: list[int]) -> "str | Update":
        """One update for problems solved as one batch (equal keys), each example with its own seed."""
        first = updates[0]
        if isinstance(first, str) or not first.noise:
            return first
        seeds = tuple(s for u, n in zip(updates, sizes) for s in example_seeds(u.seed, n))
        return cls(first.rule, first.basis, first.noise, seeds)

    def make(self, steps: int = 0) -> Rule:
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}; choose one of {sorted(RULES)}")
        if self.basis not in BASES:
            raise ValueError(f"unknown basis {self.basis!r}; choose one of {sorted(BASES)}")
        if not self.noise >= 0:
            raise ValueError(f"noise must be non-negative, got {self.noise}")
        return RULES[self.rule](steps, basis=BASES[self.basis](), noise=self.noise, seed=self.seed)


def step_class(norm) -> type[Step]:
    """A norm's name ('l2', 'linf', 'none') or a Step subclass -> the Step subclass."""
    if isinstance(norm, type) and issubclass(norm, Step):
        return norm
    if norm not in STEPS:
        raise ValueError(f"unknown constraint {norm!r}; choose one of {sorted(STEPS)}")
    return STEPS[norm]


def make_step(constraint, center: torch.Tensor, eps: float, step_size: float, rule: "str | Update" = "pgd",
              steps: int = 0) -> Step:
    """`constraint` is a name ('l2', 'linf', 'none') or a Step subclass; `rule` a name in RULES or
    an `Update`, given the run's number of steps (for its schedule)."""
    return step_class(constraint)(center, eps, step_size, Update.of(rule).make(steps))


def _per_example_norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))
