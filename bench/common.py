"""Shared by the bench scripts: model loading (shipped, file, or a training checkpoint), a model's
test images (../shared/data/<its dataset>, or $ROBUST_CANVAS_BENCH_DATA/<its dataset>), masks,
image grids, and the optimizer as it ran before issue 10.
Run the scripts from the project root: `python -m bench.<name> ...`."""
import argparse
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from server.synthesis.data import load_image_folder
from server.synthesis.models.loading import load_model
from server.synthesis.paths import cache_dir
from server.synthesis.precision import best_time as timed  # noqa: F401 -- the benches' timer (one definition)
from server.synthesis.seeds import SeedDistribution

DATA_ROOT = Path(os.environ.get("ROBUST_CANVAS_BENCH_DATA")
                 or Path(__file__).resolve().parents[1].parent / "shared" / "data")


REQUIRED = object()   # bench_parser: an argument with no default


def bench_parser(doc: str, *, model=None, judge=None, threads: int | None = None,
                 device: str | None = None) -> argparse.ArgumentParser:
    """The arguments the model benches share, so that a main adds only its own: its docstring as the
    help, --model (`model`: the default, None for the shipped default model, or REQUIRED), --judge
    where the bench scores with an independently trained classifier (its default, or REQUIRED),
    --threads (torch CPU threads) and --device where the bench takes one (its default)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", **_default(model), help="a shipped model id, weights file or training checkpoint")
    if judge is not None:
        ap.add_argument("--judge", **_default(judge), help="an independently trained non-robust classifier")
    ap.add_argument("--threads", type=int, default=threads, help="torch CPU threads")
    if device is not None:
        ap.add_argument("--device", default=device)
    return ap


def _default(value) -> dict:
    return {"required": True} if value is REQUIRED else {"default": value}


def load(path: str | None, seeds: str | None = None, threads: int | None = None, device: str = "cpu"):
    """A shipped id / weights file, or a run's `checkpoint.pt`; `seeds` overrides the seed file."""
    if threads:
        torch.set_num_threads(threads)
    if path and path.endswith("checkpoint.pt"):
        from server.synthesis.training import load_training_checkpoint
        model = load_training_checkpoint(Path(path)).to(device)
    else:
        model = load_model(path, device=device)
    if seeds:
        model.seeds = SeedDistribution.load(Path(seeds))
    return model


@contextmanager
def environ(**values: str | None):
    """The given environment variables set for the duration (None: left as they are), then restored."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update({name: value for name, value in values.items() if value is not None})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def before_issue_10(on: bool = True):
    """While `on`: the optimizer as it ran before issue 10 (no folded fast path, float32, no CUDA graph)."""
    from server.synthesis.models.robust_model import RobustModel
    if on:
        RobustModel.fast_path = False
    try:
        with environ(ROBUST_CANVAS_AMP="off" if on else None, ROBUST_CANVAS_CUDA_GRAPHS="off" if on else None):
            yield
    finally:
        RobustModel.fast_path = True


def synced(fn, device):
    """fn, then wait for the device: GPU work is asynchronous, a timer must see it finish."""
    if torch.device(device).type != "cuda":
        return fn

    def run():
        out = fn()
        torch.cuda.synchronize(device)
        return out
    return run


def timed_alternating(fns: dict, rounds: int = 3) -> dict:
    """Best wall time of each fn over `rounds` rounds that call every fn in turn, after one warm-up
    each: contention from other work hits every fn alike, so ratios stay fair on a busy machine."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def test_images(n: int, seed: int = 0, model=None) -> tuple[torch.Tensor, torch.Tensor]:
    """n random (not hand-picked) test images of the model's dataset (CIFAR-10 if none), at its input
    size: (n,3,S,S) in [0,1], and their labels."""
    dataset, size = (model.meta.dataset, model.meta.input_size) if model is not None else ("cifar10", 32)
    ds = load_image_folder(DATA_ROOT / dataset / "test", size, cache_dir=cache_dir() / "datasets")
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n]
    return ds.images[idx].float() / 255, ds.labels[idx]


def save_grid(rows: list[list[torch.Tensor]], path: Path, scale: int = 4, pad: int = 2, *,
              titles: list[str] | None = None, row_labels: list[str] | None = None,
              captions: list[list[str]] | None = None) -> None:
    """rows of (3,h,w) images in [0,1] -> one PNG, each image nearest-upscaled by `scale`.

    Optional text: `titles` above the columns, `row_labels` left of the rows, `captions` under
    each image (same nesting as rows).
    """
    h = max(im.shape[1] for row in rows for im in row) * scale
    w = max(im.shape[2] for row in rows for im in row) * scale
    cols = max(len(r) for r in rows)
    font = ImageFont.load_default(size=FONT_SIZE)
    left = max((font.getlength(t) for t in row_labels), default=0) + 2 * pad + 4 if row_labels else 0
    top, below = (TEXT_H if titles else 0), (TEXT_H if captions else 0)
    cell_h, cell_w = h + below + pad, w + pad
    canvas = Image.new("RGB", (int(left) + pad + cols * cell_w, top + pad + len(rows) * cell_h), "white")
    draw = ImageDraw.Draw(canvas)
    for j, title in enumerate(titles or []):
        _text(draw, font, title, left + pad + j * cell_w + w / 2, pad + TEXT_H / 2)
    for i, row in enumerate(rows):
        y = top + pad + i * cell_h
        if row_labels:
            _text(draw, font, row_labels[i], left / 2, y + h / 2)
        for j, im in enumerate(row):
            x = int(left) + pad + j * cell_w
            canvas.paste(Image.fromarray(_to_uint8(im, h, w)), (x, y))
            if captions and captions[i][j]:
                _text(draw, font, captions[i][j], x + w / 2, y + h + below / 2)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


TEXT_H, FONT_SIZE = 16, 12


def _to_uint8(im: torch.Tensor, h: int, w: int) -> np.ndarray:
    im = torch.nn.functional.interpolate(im[None].float().cpu(), size=(h, w), mode="nearest")[0]
    return (im.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _text(draw, font, text: str, cx: float, cy: float) -> None:
    """Centred at (cx, cy), moved in just enough to stay whole on the canvas (a caption wider than its cell)."""
    half, width = font.getlength(text) / 2, draw.im.size[0]
    draw.text((min(max(cx, half + 1), width - half - 1), cy), text, fill="black", font=font, anchor="mm")


def square_masks(n: int, size: int = 32, side: int | None = None, seed: int = 0) -> torch.Tensor:
    """(n,1,size,size) masks, each a side x side square at a random place (1 = missing); side 3/8 of size."""
    side = side or round(12 * size / 32)
    gen = torch.Generator().manual_seed(seed)
    masks = torch.zeros(n, 1, size, size)
    for i, (y, x) in enumerate(torch.randint(0, size - side + 1, (n, 2), generator=gen).tolist()):
        masks[i, :, y:y + side, x:x + side] = 1
    return masks


def disc_masks(n: int, size: int = 32, radius: float | None = None, seed: int = 0) -> torch.Tensor:
    """(n,1,size,size) masks, each a disc at a random place: a brush stroke (radius 7/32 of size)."""
    radius = radius or 7 * size / 32
    gen = torch.Generator().manual_seed(seed)
    centres = radius + torch.rand(n, 2, generator=gen) * (size - 2 * radius)
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    d2 = (yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2
    return (d2 <= radius ** 2).float()[:, None]


def crude_sketch(x: torch.Tensor, cells: int = 8, levels: int = 3) -> torch.Tensor:
    """A stand-in for a hand drawing: coarse blocks of a few flat colours."""
    small = torch.nn.functional.interpolate(x, size=(cells, cells), mode="area")
    small = (small * (levels - 1)).round() / (levels - 1)
    return torch.nn.functional.interpolate(small, size=x.shape[-2:], mode="nearest")


def edge_sketch(x: torch.Tensor, keep: float = 0.12, thick: bool = True) -> torch.Tensor:
    """A person's line drawing, roughly: the strongest `keep` share of a photo's edges (Sobel on the
    lightly blurred grey image, thresholded per image) as dark lines on white, a pixel wide at 32 px
    and (`thick`) two to three at 128 px."""
    grey = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    k = max(1, x.shape[-1] // 64)
    grey = torch.nn.functional.avg_pool2d(grey, 2 * k + 1, 1, k, count_include_pad=False)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    padded = torch.nn.functional.pad(grey, (1, 1, 1, 1), mode="replicate")
    gx = torch.nn.functional.conv2d(padded, sobel.view(1, 1, 3, 3))
    gy = torch.nn.functional.conv2d(padded, sobel.T.reshape(1, 1, 3, 3))
    magnitude = (gx ** 2 + gy ** 2).sqrt().flatten(1)
    lines = (magnitude >= magnitude.quantile(1 - keep, dim=1, keepdim=True)).float().view_as(grey)
    if k > 1 and thick:
        lines = torch.nn.functional.max_pool2d(lines, 3, 1, 1)
    return (1 - lines).expand_as(x).contiguous()


def blob_sketch(x: torch.Tensor, cells: int = 8, levels: int = 3) -> torch.Tensor:
    """A person's colour-blob drawing, roughly: the photo blurred to `cells` across (smoothly
    upsampled, so the blobs have round edges), then posterized to `levels` values per channel."""
    small = torch.nn.functional.interpolate(x, size=(cells, cells), mode="area")
    smooth = torch.nn.functional.interpolate(small, size=x.shape[-2:], mode="bicubic", align_corners=False)
    return ((smooth.clamp(0, 1) * (levels - 1)).round() / (levels - 1)).contiguous()


def box_masks(n: int, h: int, w: int, seed: int = 0, cover: tuple[float, float] = (0.05, 0.2)) -> torch.Tensor:
    """(n,1,h,w) masks, each one rectangle at a random place covering a random `cover` fraction of the
    image, its aspect ratio between 1:2 and 2:1 (1 = missing)."""
    gen = torch.Generator().manual_seed(seed)
    masks = torch.zeros(n, 1, h, w)
    for i in range(n):
        area, aspect = cover[0] + (cover[1] - cover[0]) * torch.rand(1, generator=gen).item(), \
            2 ** (2 * torch.rand(1, generator=gen).item() - 1)
        bh, bw = min(h - 2, round((area * h * w * aspect) ** 0.5)), min(w - 2, round((area * h * w / aspect) ** 0.5))
        y = torch.randint(1, h - bh, (1,), generator=gen).item()
        x = torch.randint(1, w - bw, (1,), generator=gen).item()
        masks[i, :, y:y + bh, x:x + bw] = 1
    return masks


def brush_masks(n: int, h: int, w: int, seed: int = 0, cover: tuple[float, float] = (0.05, 0.2)) -> torch.Tensor:
    """(n,1,h,w) brush-stroke masks: a random walk of round dabs (width 4-9% of the short side) drawn
    until it covers a random `cover` fraction of the image (1 = missing)."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    masks = torch.zeros(n, 1, h, w)
    for i in range(n):
        rnd = lambda: torch.rand(1, generator=gen).item()
        goal, radius = cover[0] + (cover[1] - cover[0]) * rnd(), (0.02 + 0.025 * rnd()) * min(h, w)
        y, x, angle = h * (0.2 + 0.6 * rnd()), w * (0.2 + 0.6 * rnd()), 6.2832 * rnd()
        while masks[i].mean() < goal:
            angle += (rnd() - 0.5) * 1.5
            y = min(max(y + radius * torch.tensor(angle).sin().item(), radius), h - radius)
            x = min(max(x + radius * torch.tensor(angle).cos().item(), radius), w - radius)
            masks[i, 0][(yy - y) ** 2 + (xx - x) ** 2 <= radius ** 2] = 1
    return masks
