"""Fills for a hole in an image that already agree with its border: the starting point of inpainting.

`harmonic_fill` solves Laplace's equation in the hole with the known pixels as the boundary
condition (each hole pixel the mean of its four neighbours): the smoothest fill that meets the
border's colours everywhere, where a flat mean colour leaves a seam on every side. Coarse to fine:
the hole is first filled at half resolution (recursively), then relaxed at full resolution, so a
large hole needs a few dozen sweeps, not thousands.
"""
import torch
import torch.nn.functional as F

SWEEPS = 40       # Jacobi sweeps at each resolution
COARSEST = 4      # stop halving below this many pixels a side

_NEIGHBOURS = torch.tensor([[0.0, 0.25, 0.0], [0.25, 0.0, 0.25], [0.0, 0.25, 0.0]])


def harmonic_fill(x: torch.Tensor, hole: torch.Tensor, sweeps: int = SWEEPS) -> torch.Tensor:
    """x (N,C,H,W) with `hole` (N or 1,1,H,W, bool or {0,1}) marking unknown pixels -> x with the hole
    filled; the known pixels are returned exactly as given."""
    hole = hole.bool().expand(x.shape[0], 1, *x.shape[2:])
    known = (~hole).to(x.dtype)
    empty = known.flatten(1).sum(1) == 0
    colour = (x * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp_min(1)
    colour = torch.where(empty.view(-1, 1, 1, 1), torch.full_like(colour, 0.5), colour)
    if min(x.shape[2:]) >= 2 * COARSEST:
        start = F.interpolate(_coarse_fill(x, known, sweeps), size=x.shape[2:], mode="bilinear", align_corners=False)
    else:
        start = colour.expand_as(x)
    y = torch.where(hole, start, x)
    kernel = _NEIGHBOURS.to(x).expand(x.shape[1], 1, 3, 3)
    for _ in range(sweeps):
        avg = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), kernel, groups=x.shape[1])
        y = torch.where(hole, avg, x)
    return y


def mean_fill(x: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """The paper's start: the hole (weights in [0,1]) painted in the mean colour of the known pixels."""
    keep = 1 - hole.to(x.dtype)
    colour = (x * keep).sum((2, 3), keepdim=True) / keep.sum((2, 3), keepdim=True).clamp_min(1e-6)
    return x * keep + colour * (1 - keep)


def _coarse_fill(x: torch.Tensor, known: torch.Tensor, sweeps: int) -> torch.Tensor:
    """The image at half size, each coarse pixel the mean of its known fine pixels, filled."""
    weight = F.avg_pool2d(known, 2, ceil_mode=True)
    coarse = F.avg_pool2d(x * known, 2, ceil_mode=True) / weight.clamp_min(1e-6)
    return harmonic_fill(coarse, weight == 0, sweeps)


FILLS = {"harmonic": lambda x, hole: harmonic_fill(x, hole > 0), "mean": mean_fill}


def seam_band(hole: torch.Tensor, width: int = 1) -> torch.Tensor:
    """(N,1,H,W) float: the pixels within `width` of the hole's edge, on either side."""
    h = hole.float()
    k = 2 * width + 1
    grown = F.max_pool2d(h, k, stride=1, padding=width)
    shrunk = 1 - F.max_pool2d(1 - h, k, stride=1, padding=width)
    return grown - shrunk
