"""Step classes own the geometry of the search: how to step along a gradient, how to
project back into the allowed set around `center`, and how to start at random inside it.

All images are (N,3,H,W) in [0,1]; `eps` and `step_size` are in those pixel units.
"""
import torch


class Step:
    """Base class: an unconstrained normalized-gradient (L2) step."""

    name = "none"

    def __init__(self, center: torch.Tensor, eps: float, step_size: float):
        if step_size <= 0:
            raise ValueError(f"step_size must be positive, got {step_size}")
        if eps < 0:
            raise ValueError(f"eps must be non-negative, got {eps}")
        self.center, self.eps, self.step_size = center, float(eps), float(step_size)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return x + self.step_size * grad / _per_example_norm(grad).clamp_min(1e-12)

    def random_perturb(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return x + self.step_size * noise / _per_example_norm(noise)


class L2Step(Step):
    """Normalized-gradient steps inside an L2 ball of radius eps around the centre."""

    name = "l2"

    def project(self, x):
        delta = x - self.center
        scale = (self.eps / _per_example_norm(delta).clamp_min(1e-12)).clamp(max=1.0)
        return self.center + delta * scale

    def random_perturb(self, x, generator):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return x + self.eps * noise / _per_example_norm(noise)


class LinfStep(Step):
    """Signed-gradient steps inside an L-infinity box of half-width eps around the centre."""

    name = "linf"

    def project(self, x):
        return self.center + (x - self.center).clamp(-self.eps, self.eps)

    def step(self, x, grad):
        return x + self.step_size * grad.sign()

    def random_perturb(self, x, generator):
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return x + (2 * noise - 1) * self.eps


STEPS = {cls.name: cls for cls in (Step, L2Step, LinfStep)}


def make_step(constraint, center: torch.Tensor, eps: float, step_size: float) -> Step:
    """`constraint` is a name ('l2', 'linf', 'none') or a Step subclass."""
    if isinstance(constraint, type) and issubclass(constraint, Step):
        return constraint(center, eps, step_size)
    if constraint not in STEPS:
        raise ValueError(f"unknown constraint {constraint!r}; choose one of {sorted(STEPS)}")
    return STEPS[constraint](center, eps, step_size)


def _per_example_norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))
