"""A hole filled with texture copied from the rest of the image: the start of inpainting photographs.

`patch_fill` is a compact PatchMatch (Barnes et al. 2009) run coarse to fine, as in Wexler et al.
(2007): for every hole pixel it keeps a source pixel elsewhere whose neighbourhood, entirely known,
looks most like the hole pixel's (its known neighbours and the current fill), improves that match by
propagation from neighbours and random search, and copies the source pixels in. A smooth fill
(harmonic, mean colour) has no texture at all, and the model's few steps at 128 px cannot paint a
photo's grain at 512; copied texture has it from the start, and the model then adjusts the content.

`patchmatch_fill` is the same idea done fully: PyPatchMatch (MIT, a 0.7 MB wheel with its C++
library and OpenCV built in) runs PatchMatch with 7x7 patches and votes the overlapping patches
together at every scale, so copied texture meets its border without the tone step that `patch_fill`'s
centre-pixel copies leave (docs/BENCHMARKS.md, "Fills": seam 1.0 against 2.3-3.2, the originals
1.0). It works on 8-bit pixels on the CPU, deterministic for a given seed.
"""
import threading

import torch
import torch.nn.functional as F

from .fill import FILLS as SMOOTH_FILLS, harmonic_fill

COARSEST = 48      # the pyramid stops when the short side would fall below this
ITERATIONS = 5     # PatchMatch iterations (propagation, random search, copy) at the coarsest level
REFINE = 1         # ... and at each finer one, which starts from the coarser matches (2: +40% time, same texture)
MARGIN = 32        # sources are looked for at least this far around the hole (`_window`)
REACH = 16         # how far a finer level's search looks beyond its start (the coarsest: everywhere)
DILATION = 2       # a neighbourhood: 3x3 samples spaced this far apart (a 5x5 span)
_TAPS = [(dy * DILATION, dx * DILATION) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
_RADIUS = DILATION


def patch_fill(x: torch.Tensor, hole: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """x (N,C,H,W) with `hole` (N or 1,1,H,W, bool or {0,1}) marking unknown pixels -> x with the hole
    filled with texture from the known pixels; the known pixels are returned exactly as given."""
    hole = hole.bool().expand(x.shape[0], 1, *x.shape[2:])
    gen = torch.Generator().manual_seed(seed)
    out = x.clone()
    for i in range(len(x)):
        if not hole[i].any():
            continue
        window = _window(hole[i, 0])
        out[i:i + 1, :, window[0], window[1]] = _fill_one(x[i:i + 1, :, window[0], window[1]],
                                                          hole[i:i + 1, :, window[0], window[1]], gen)
    return torch.where(hole, out, x)


def _window(hole: torch.Tensor) -> tuple[slice, slice]:
    """The hole's bounding box grown by its own size (at least MARGIN) on every side: where sources
    are looked for. Texture near the hole is the likeliest to belong in it, and a small hole in a
    large photo costs what the hole's surroundings cost, not what the photo does."""
    spans = []
    for axis in (1, 0):
        hit = hole.any(axis).nonzero()[:, 0]
        lo, hi = int(hit[0]), int(hit[-1]) + 1
        grow = max(hi - lo, MARGIN)
        spans.append(slice(max(0, lo - grow), min(hole.shape[1 - axis], hi + grow)))
    return spans[0], spans[1]


def _fill_one(x: torch.Tensor, hole: torch.Tensor, gen) -> torch.Tensor:
    pyramid = [(x, hole)]
    while min(pyramid[-1][0].shape[2:]) >= 2 * COARSEST:
        xi, hi = pyramid[-1]
        known = (~hi).float()
        weight = F.avg_pool2d(known, 2, ceil_mode=True)
        coarse = F.avg_pool2d(xi * known, 2, ceil_mode=True) / weight.clamp_min(1e-6)
        pyramid.append((coarse, weight < 1))      # a coarse pixel is known only if all its pixels are
    fill, offsets = None, None
    for level, (xi, hi) in enumerate(reversed(pyramid)):
        valid = _sources(hi)
        if not hi.any():
            fill = xi
            continue
        if not valid.any():          # no fully known neighbourhood anywhere: the smooth fill
            return harmonic_fill(x, hole)
        if fill is None:
            current = harmonic_fill(xi, hi)
            offsets = _random_offsets(hi, valid, gen)
        else:   # the coarser level's matches, twice as far, copied in: texture at this scale from the start
            offsets = _repair(F.interpolate(offsets.float(), size=hi.shape[2:], mode="nearest").long() * 2, hi, valid, gen)
            current = torch.where(hi, _copy(xi, hi, offsets), xi)
        coarsest = level == 0
        for _ in range(ITERATIONS if coarsest else REFINE):
            offsets = _improve(current, hi, valid, offsets, gen, max(hi.shape[2:]) if coarsest else REACH)
            current = torch.where(hi, _copy(xi, hi, offsets), xi)
        fill = current
    return fill


def _sources(hole: torch.Tensor) -> torch.Tensor:
    """(H,W) bool: pixels whose whole neighbourhood is known and inside the image."""
    k = 2 * _RADIUS + 1
    touched = F.max_pool2d(hole.float(), k, stride=1, padding=_RADIUS)[0, 0] > 0
    inside = torch.zeros_like(touched)
    inside[_RADIUS:touched.shape[0] - _RADIUS, _RADIUS:touched.shape[1] - _RADIUS] = True
    return inside & ~touched


def _random_offsets(hole: torch.Tensor, valid: torch.Tensor, gen) -> torch.Tensor:
    """(1,2,H,W) long: for each hole pixel the offset to a random valid source (0 elsewhere)."""
    h, w = hole.shape[2:]
    ys, xs = valid.nonzero(as_tuple=True)
    pick = torch.randint(0, len(ys), (h, w), generator=gen)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    offsets = torch.stack([ys[pick] - yy, xs[pick] - xx])[None]
    return offsets * hole.long()


def _repair(offsets: torch.Tensor, hole: torch.Tensor, valid: torch.Tensor, gen) -> torch.Tensor:
    """Offsets of hole pixels that point at no valid source (after upsampling) -> random valid ones."""
    h, w = hole.shape[2:]
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    sy, sx = yy + offsets[0, 0], xx + offsets[0, 1]
    inside = (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)
    ok = inside & valid[sy.clamp(0, h - 1), sx.clamp(0, w - 1)]
    lost = (hole[0, 0] & ~ok)[None, None]
    return torch.where(lost, _random_offsets(hole, valid, gen), offsets)


def _descriptors(x: torch.Tensor) -> torch.Tensor:
    """(H*W, C*9): each pixel's neighbourhood (3x3 taps, DILATION apart; the border replicated)."""
    pad = F.pad(x, (_RADIUS,) * 4, mode="replicate")[0]
    h, w = x.shape[2:]
    taps = [pad[:, _RADIUS + dy:_RADIUS + dy + h, _RADIUS + dx:_RADIUS + dx + w] for dy, dx in _TAPS]
    return torch.cat(taps).flatten(1).t().contiguous()      # (H*W, C*9): rows gather fast


def _improve(x: torch.Tensor, hole: torch.Tensor, valid: torch.Tensor, offsets: torch.Tensor, gen,
             reach: int) -> torch.Tensor:
    """One PatchMatch iteration over all hole pixels at once: propagation from the neighbours at 1, 4,
    16, ... pixels (up to `reach`) in four directions (jump flooding), then random search at radii
    from `reach` down, quartering."""
    h, w = hole.shape[2:]
    desc = _descriptors(x)
    ty, tx = hole[0, 0].nonzero(as_tuple=True)
    best = offsets[0, :, ty, tx]                                   # (2,K)
    target = desc[ty * w + tx]                                     # (K, C*9)
    cost = _cost(desc, target, valid, ty, tx, best, w, h)
    candidates = []
    jump = 1
    while jump <= reach:
        for dy, dx in ((jump, 0), (-jump, 0), (0, jump), (0, -jump)):
            ny, nx = (ty + dy).clamp(0, h - 1), (tx + dx).clamp(0, w - 1)
            candidates.append(offsets[0, :, ny, nx])
        jump *= 4
    radius = reach
    while radius >= 1:
        step = ((torch.rand(2, len(ty), generator=gen) * 2 - 1) * radius).round().long()
        candidates.append(best + step)
        radius //= 4
    for candidate in candidates:
        c = _cost(desc, target, valid, ty, tx, candidate, w, h)
        better = c < cost
        best = torch.where(better, candidate, best)
        cost = torch.where(better, c, cost)
    out = offsets.clone()
    out[0, :, ty, tx] = best
    return out


def _cost(desc, target, valid, ty, tx, offset, w, h) -> torch.Tensor:
    """(K,) squared distance between each hole pixel's neighbourhood and its candidate source's;
    infinite where the source is not valid."""
    sy, sx = ty + offset[0], tx + offset[1]
    inside = (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)
    sy, sx = sy.clamp(0, h - 1), sx.clamp(0, w - 1)
    ok = inside & valid[sy, sx]
    d = ((target - desc.index_select(0, sy * w + sx)) ** 2).sum(1)
    return torch.where(ok, d, torch.full_like(d, float("inf")))


def _copy(x: torch.Tensor, hole: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Each hole pixel takes its source pixel's colour (known pixels are kept by the caller). Not the
    mean of the overlapping patches' votes: measured, that keeps 7-50% of the texture, copying 30-300%."""
    h, w = hole.shape[2:]
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    sy = (yy + offsets[0, 0]).clamp(0, h - 1)
    sx = (xx + offsets[0, 1]).clamp(0, w - 1)
    return x[:, :, sy, sx]


PATCH_RADIUS = 3      # PyPatchMatch's patches span 2 * 3 + 1 = 7 pixels (5: more time, no better: BENCHMARKS.md)
_SEEDED = threading.Lock()   # PyPatchMatch's seed is global to the process: seed and fill as one


def patchmatch_fill(x: torch.Tensor, hole: torch.Tensor, seed: int = 0, radius: int = PATCH_RADIUS) -> torch.Tensor:
    """x (N,C,H,W) with `hole` (N or 1,1,H,W, bool or {0,1}) marking unknown pixels -> x with the hole
    filled by PyPatchMatch from the known pixels (as 8-bit colours), with patches 2 * radius + 1 wide;
    the known pixels are returned exactly as given, and an image with no known pixel gets the smooth fill."""
    from patchmatch import patch_match   # the compiled library loads only when this fill is asked for

    hole = hole.bool().expand(x.shape[0], 1, *x.shape[2:])
    out = x.clone()
    for i in range(len(x)):
        if not hole[i].any() or hole[i].all():
            out[i:i + 1] = harmonic_fill(x[i:i + 1], hole[i:i + 1])
            continue
        pixels = (x[i].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        with _SEEDED:
            patch_match.set_random_seed(seed)
            filled = patch_match.inpaint(pixels, hole[i, 0].cpu().numpy(), patch_size=radius)
        out[i] = torch.from_numpy(filled).permute(2, 0, 1).to(x) / 255
    return torch.where(hole, out, x)


# The inpainting starts by name (the task's `fill` setting): the smooth ones of fill.py and these.
FILLS = {**SMOOTH_FILLS, "patch": lambda x, hole: patch_fill(x, hole > 0),
         "patchmatch": lambda x, hole: patchmatch_fill(x, hole > 0)}
