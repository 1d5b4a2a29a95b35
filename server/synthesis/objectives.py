"""Composable objectives, in the style of lucent's `optvis.objectives`.

An objective maps the model's outputs on a batch to one score per example, which the
optimizer *maximizes*; penalties are subtracted. Objectives combine with +, -, and scalar *:

    inpaint = class_score(y) - 10 * seam(hole)               # the shipped cards' weight; known pixels fixed
    paper_inpaint = class_score(y) - 50 * masked_mse(x0, keep)
    paint   = 0.1 * feature(k, region) - 90 * masked_mse(x0, outside)
    generate = transformed(class_score(y) - 0.1 * stem_prior(*model.stem_statistics()), jitter=8)

An objective may carry a random `view` of the images (`transformed`: jitter, flip, scale; lucent's
transformation robustness): the model then sees the view at every step, and the gradient flows
back through it to the images. Views are seeded, so runs reproduce.
"""
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .fill import seam_band


@dataclass
class Outputs:
    """What one forward pass yields; objectives read what they need."""

    x: torch.Tensor            # (N,3,H,W) input in [0,1]
    logits: torch.Tensor       # (N,C)
    features: torch.Tensor     # (N,D) pooled representation
    feature_map: torch.Tensor  # (N,D,h,w) before pooling
    stem: torch.Tensor | None = None   # (N,c,h',w') the first batch norm's output, before its ReLU


class Objective:
    def __init__(self, fn: Callable[[Outputs], torch.Tensor], description: str, view: "Transform | None" = None):
        self.fn, self.description, self.view = fn, description, view

    def __call__(self, out: Outputs) -> torch.Tensor:
        return self.fn(out)

    def __add__(self, other: "Objective") -> "Objective":
        return Objective(lambda o: self(o) + other(o), f"{self.description} + {other.description}",
                         _one_view(self, other))

    def __sub__(self, other: "Objective") -> "Objective":
        return Objective(lambda o: self(o) - other(o), f"{self.description} - {other.description}",
                         _one_view(self, other))

    def __mul__(self, k: float) -> "Objective":
        return Objective(lambda o: k * self(o), f"{k:g} * {self.description}", self.view)

    __rmul__ = __mul__

    def __neg__(self) -> "Objective":
        return -1 * self

    def __repr__(self) -> str:
        return f"Objective({self.description})"


class _Held:
    """A tensor an objective reads at every step, moved to the images' device (and dtype) once, at
    the first step: a copy from the host at every step would wait for the GPU, and a CUDA graph
    of the step (graphs.py) cannot contain one."""

    def __init__(self, t: torch.Tensor):
        self.t = t

    def on(self, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
        dtype = dtype or self.t.dtype
        if self.t.device != device or self.t.dtype != dtype:
            self.t = self.t.to(device, dtype)
        return self.t


def _labels(y) -> Callable[[Outputs], torch.Tensor]:
    """Per-example labels: an int for every example, or a tensor of one label each."""
    if isinstance(y, int):
        return lambda o: torch.full((o.logits.shape[0],), y, dtype=torch.long, device=o.logits.device)
    held = _Held(y.long())
    return lambda o: held.on(o.logits.device)


def class_score(y) -> Objective:
    """Log-probability of class y (an int, or a tensor with one label per example)."""
    labels = _labels(y)
    return Objective(lambda o: F.log_softmax(o.logits, 1).gather(1, labels(o)[:, None])[:, 0],
                     f"class_score({y if isinstance(y, int) else 'y'})")


def logit(y) -> Objective:
    """Raw logit of class y."""
    labels = _labels(y)
    return Objective(lambda o: o.logits.gather(1, labels(o)[:, None])[:, 0],
                     f"logit({y if isinstance(y, int) else 'y'})")


def cross_entropy(y) -> Objective:
    """Classification loss of label(s) y: what an adversary maximizes."""
    labels = _labels(y)
    return Objective(lambda o: F.cross_entropy(o.logits, labels(o), reduction="none"), "cross_entropy(y)")


def feature(k, region: torch.Tensor | None = None) -> Objective:
    """Component k of the representation, pooled or averaged over `region` (N or 1,1,H,W in [0,1]).

    k is an int, or a tensor with one component per example.
    """
    held_k = k if isinstance(k, int) else _Held(k.long())
    held_region = None if region is None else _Held(region)

    def in_region(o: Outputs) -> torch.Tensor:
        fmap = _components(o.feature_map, held_k)
        weights = F.adaptive_avg_pool2d(held_region.on(o.x.device, o.x.dtype), o.feature_map.shape[-2:])[:, 0]
        return (fmap * weights).flatten(1).sum(1) / weights.flatten(1).sum(1).clamp_min(1e-6)

    name = f"feature({k if isinstance(k, int) else 'k'}{', region' if region is not None else ''})"
    return Objective(in_region if region is not None else lambda o: _components(o.features, held_k), name)


def _components(t: torch.Tensor, k: "int | _Held") -> torch.Tensor:
    """t[:, k] for an int k; t[i, k[i]] for a tensor of one index per example."""
    if isinstance(k, int):
        return t[:, k]
    return t[torch.arange(t.shape[0], device=t.device), k.on(t.device)]


def masked_mse(reference: torch.Tensor, mask: torch.Tensor | None = None) -> Objective:
    """Mean squared distance to `reference` over the pixels where mask is 1 (all pixels if None)."""
    held_reference, held_mask = _Held(reference), None if mask is None else _Held(mask)

    def mse(o: Outputs) -> torch.Tensor:
        sq = (o.x - held_reference.on(o.x.device, o.x.dtype)) ** 2
        if held_mask is None:
            return sq.flatten(1).mean(1)
        m = held_mask.on(o.x.device, o.x.dtype).expand_as(sq)
        return (sq * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1.0)

    return Objective(mse, "masked_mse" if mask is not None else "mse")


def _slice_outputs(o: Outputs, sl: slice) -> Outputs:
    return Outputs(x=o.x[sl], logits=o.logits[sl], features=o.features[sl], feature_map=o.feature_map[sl],
                   stem=None if o.stem is None else o.stem[sl])


def stacked(objectives: list[Objective], sizes: list[int]) -> Objective:
    """One objective over a concatenated batch: objective i scores its own slice (batched jobs),
    through its own view, if any."""
    bounds = torch.tensor([0] + sizes).cumsum(0).tolist()
    slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    views = [obj.view for obj in objectives]
    return Objective(lambda o: torch.cat([obj(_slice_outputs(o, sl)) for obj, sl in zip(objectives, slices)]),
                     " | ".join(obj.description for obj in objectives),
                     None if all(v is None for v in views) else _Stacked(views, slices))


# ---- views: what the model sees at each step --------------------------------------------------

def _one_view(a: Objective, b: Objective) -> "Transform | None":
    if a.view is not None and b.view is not None and a.view is not b.view:
        raise ValueError(f"cannot combine two objectives with different views: {a.description}, {b.description}")
    return a.view if a.view is not None else b.view


class Transform:
    """A random view of the images at each step: shifted by up to `jitter` pixels (reflected at the
    border), flipped left-right with probability `flip`, rescaled by a factor in [1 - scale, 1 + scale]
    (then cropped or reflect-padded back to size). One draw per step for the whole batch, from a
    generator seeded with `seed`: `sampler()` starts a fresh, reproducible sequence (one per run)."""

    def __init__(self, jitter: float = 0, flip: float = 0.0, scale: float = 0.0, seed: int = 0):
        self.jitter, self.flip, self.scale, self.seed = int(round(jitter)), float(flip), float(scale), int(seed)

    def __repr__(self) -> str:
        return f"Transform(jitter={self.jitter}, flip={self.flip:g}, scale={self.scale:g}, seed={self.seed})"

    def sampler(self) -> Callable[[torch.Tensor], torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed)
        return lambda x: self.apply(x, torch.rand(4, generator=gen).tolist())

    def apply(self, x: torch.Tensor, u: list[float]) -> torch.Tensor:
        """The view for uniform draws u (4 numbers in [0,1)): scale, flip, shift y, shift x."""
        h, w = x.shape[-2:]
        if self.scale:
            s = 1 + self.scale * (2 * u[0] - 1)
            size = (max(1, round(h * s)), max(1, round(w * s)))
            x = _fit(F.interpolate(x, size=size, mode="bilinear", align_corners=False), h, w)
        if u[1] < self.flip:
            x = x.flip(-1)
        j = min(self.jitter, h - 1, w - 1)
        if j:
            dy, dx = (int(v * (2 * j + 1)) for v in u[2:])
            x = F.pad(x, (j, j, j, j), mode="reflect")[..., dy:dy + h, dx:dx + w]
        return x


def _fit(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """x centre-cropped or reflect-padded to (h, w)."""
    dh, dw = x.shape[-2] - h, x.shape[-1] - w
    if dh < 0 or dw < 0:
        ph, pw = max(-dh, 0), max(-dw, 0)
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="reflect")
        dh, dw = x.shape[-2] - h, x.shape[-1] - w
    return x[..., dh // 2:dh // 2 + h, dw // 2:dw // 2 + w]


class _Stacked:
    """The views of a batch of problems: each slice through its own view (None: as it is)."""

    def __init__(self, views: list, slices: list[slice]):
        self.views, self.slices = views, slices

    def sampler(self):
        samplers = [None if v is None else v.sampler() for v in self.views]
        return lambda x: torch.cat([x[sl] if s is None else s(x[sl]) for s, sl in zip(samplers, self.slices)])


def transformed(objective: Objective, jitter: float = 0, flip: float = 0.0, scale: float = 0.0,
                seed: int = 0) -> Objective:
    """`objective` of a random view of the images at each step (Transform): transformation
    robustness; what survives every view is structure, not pixel-level texture."""
    if objective.view is not None:
        raise ValueError(f"{objective.description} already has a view")
    view = Transform(jitter, flip, scale, seed)
    return Objective(objective.fn, f"transformed({objective.description}, {view})", view)


def stem_prior(mean: torch.Tensor, std: torch.Tensor) -> Objective:
    """How far each image's first-layer statistics are from the training data's (DeepInversion's
    batch-norm prior, per image): the mean over channels of the squared differences of the stem's
    per-image channel mean and standard deviation from `mean` and `std` ((c,), what the first
    batch norm's output has on training images: its bias and |weight|), in units of `std`.
    Saturated colours and high-contrast texture push the stem's spread far above the training
    data's; subtract it, weighted."""
    held_mean, held_std = _Held(mean.detach().float()), _Held(std.detach().float())

    def distance(o: Outputs) -> torch.Tensor:
        s = o.stem.float()
        mu, sd = held_mean.on(s.device), held_std.on(s.device)
        sd = sd.clamp_min(0.05 * sd.mean())
        # sums over the (channels-last) map: 2.5x faster, forward and backward, than mean() and var()
        n = s.shape[2] * s.shape[3]
        m = s.sum((2, 3)) / n
        v = (s * s).sum((2, 3)) / n - m * m
        return (((m - mu) / sd) ** 2 + ((v.clamp_min(1e-12).sqrt() - sd) / sd) ** 2).mean(1)

    return Objective(distance, "stem_prior")


def seam(hole: torch.Tensor, width: int = 1) -> Objective:
    """Mean squared difference between neighbouring pixels near the edge of `hole` (N or 1,1,H,W):
    a jump in colour across the border of a filled region costs, texture away from it does not."""
    band = _Held(seam_band(hole.bool(), width))

    def jumps(o: Outputs) -> torch.Tensor:
        b = band.on(o.x.device, o.x.dtype)
        wx = torch.maximum(b[..., :, 1:], b[..., :, :-1]).expand_as(o.x[..., :, 1:])
        wy = torch.maximum(b[..., 1:, :], b[..., :-1, :]).expand_as(o.x[..., 1:, :])
        sx = (o.x[..., :, 1:] - o.x[..., :, :-1]) ** 2 * wx
        sy = (o.x[..., 1:, :] - o.x[..., :-1, :]) ** 2 * wy
        total = wx.flatten(1).sum(1) + wy.flatten(1).sum(1)
        return (sx.flatten(1).sum(1) + sy.flatten(1).sum(1)) / total.clamp_min(1)

    return Objective(jumps, f"seam(width={width})")
