"""Results at the photo's resolution: the model works at its input size, and the change it makes is
carried back onto the photo (or the full-resolution start) at the size results are shown at.

Upsampling the whole 128-px result threw away the photo's fine detail (1-3% of its Laplacian energy
was left); adding the upsampled *change* keeps every detail the model did not touch, and where the
change is zero the photo's pixels come back exactly (`Carry.apply`).
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .consistency import Downsampled, consistent_upsample

SR_WORK = 2   # super-resolution runs the model at up to this many times its input size (long side)
WHOLE = 1 - 1e-6     # a model-size pixel this much in a hole is wholly in it (inpainting moves only those)
UNSEEN = 0.5 / 255   # a carried change smaller than half a grey level is no change: the photo's pixel stays


def resize(x: torch.Tensor, hw: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """x (N,C,h,w) at `hw`, antialiased when shrinking; unchanged (the same tensor) at its own size."""
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    return F.interpolate(x, size=tuple(hw), mode=mode, align_corners=False, antialias=True)


@dataclass
class Carry:
    """How a result at work size becomes one at display size: base + upsampled (result - start)."""

    base: torch.Tensor                 # (N,3,H,W) at display size, host: the photo, or the full-size start
    start: torch.Tensor                # (N,3,h,w) the optimizer's start at work size, host
    where: torch.Tensor | None = None  # (N,1,H,W) bool: the pixels that take the change (None: all)
    keep: torch.Tensor | None = None   # (N,3,H,W): what the other pixels show (default: base)
    then: Downsampled | None = None    # a constraint the full-size result meets (super-resolution)

    def apply(self, work: torch.Tensor) -> torch.Tensor:
        change = resize(work.detach().float().cpu() - self.start, self.base.shape[-2:], "bicubic")
        out = self.base + torch.where(change.abs() < UNSEEN, torch.zeros_like(change), change)
        if self.then is not None:
            out = self.then.project(out)
        out = out.clamp(0, 1)
        if self.where is not None:
            out = torch.where(self.where, out, self.base if self.keep is None else self.keep)
        return out


def carry(base: torch.Tensor, start: torch.Tensor, where: torch.Tensor | None = None,
          keep: torch.Tensor | None = None) -> Carry:
    return Carry(base.detach().float().cpu(), start.detach().float().cpu(),
                 None if where is None else where.cpu().bool(), None if keep is None else keep.cpu())


def work_factor(low_hw: tuple[int, int], factor: int, input_size: int) -> int:
    """The factor the model works at: `factor` while the result's long side is at most SR_WORK
    times the model's input size, else the largest integer factor that fits (below 2: none)."""
    long = max(low_hw)
    return factor if long * factor <= SR_WORK * input_size else SR_WORK * input_size // long


def superresolution(low: torch.Tensor, factor: int, input_size: int, device) -> tuple:
    """(x0, consistency constraint or None, carry or None) of super-resolving `low` (N,3,h,w) by `factor`.

    The start is bicubic upsampling made consistent with the input (consistency.py), and every step
    stays consistent. The model runs at `work_factor`: a larger result is refined at that factor (the
    change carried back, then made consistent at full size), and an input that is itself too large
    gets the consistent bicubic upsampling alone (x0 is then the input itself, and the task runs no
    steps: the model adds nothing at that scale) -- never worse than bicubic (BENCHMARKS.md).
    """
    full = consistent_upsample(low, factor)
    work = work_factor(tuple(low.shape[2:]), factor, input_size)
    if work == factor:
        return full.to(device), Downsampled(low.to(device), factor), None
    if work < 2:
        return low.to(device), None, Carry(full, low.cpu())
    x0 = consistent_upsample(low, work)
    c = Carry(full, x0.cpu(), then=Downsampled(low.cpu(), factor))
    return x0.to(device), Downsampled(low.to(device), work), c


def inpaint_start(image: torch.Tensor, hole: torch.Tensor, x: torch.Tensor, hole_work: torch.Tensor, fill) -> tuple:
    """(x0, carry) of inpainting with the known pixels kept exactly.

    image (N,3,H,W) and hole (N,1,H,W) bool at display size, x and hole_work at the model's size. The
    hole is filled at display size (`fill`, e.g. texture.patch_fill), the model starts from that fill
    shrunk to its size, and its change to the hole is carried back onto the full-size fill; the pixels
    outside the hole are the image's, bit for bit.
    """
    filled = fill(image, hole)
    x0 = torch.where(hole_work, resize(filled, x.shape[-2:]).to(x), x)
    return x0, carry(filled, x0, hole, keep=image)
