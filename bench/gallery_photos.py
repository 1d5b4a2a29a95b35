"""The image tasks on own photographs (bench/photos/, in no training set), at the photos' resolution:
docs/gallery/photos/<task>.png, each row a photo, with what went in and what came out side by side.
The photo model knows 10 classes; on photos of none of them (a cat, a rocket) its class evidence is
out of place, which inpainting shows most: its gallery has the card's radius beside eps 1.

    python -m bench.gallery_photos [--model ID] [--side 384] [--out docs/gallery/photos]
"""
import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.common import load, save_grid
from bench.photos import photos
from server.synthesis import tasks
from server.synthesis.texture import patch_fill


def _box(x: torch.Tensor, top: float, left: float, height: float, width: float) -> torch.Tensor:
    """(H,W) mask: a box given in fractions of the photo's size."""
    h, w = x.shape[-2:]
    m = torch.zeros(h, w)
    m[round(top * h):round((top + height) * h), round(left * w):round((left + width) * w)] = 1
    return m


def _shown(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The photo with the masked region tinted red."""
    red = torch.tensor([1.0, 0.2, 0.2]).view(3, 1, 1)
    return torch.where(mask > 0, 0.5 * x + 0.5 * red, x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="imagenette-rn18w75-l2")
    ap.add_argument("--side", type=int, default=384, help="long side of the photos")
    ap.add_argument("--out", default="docs/gallery/photos")
    args = ap.parse_args(argv)
    model, out = load(args.model), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ph = photos(args.side)
    label = lambda r: r.class_names[0].replace("_", " ")

    rows, captions = [], []
    for name, target in (("chelsea", "english_springer"), ("rocket", "parachute")):
        r = tasks.run(model, "translate", image=ph[name], class_=target)
        rows.append([ph[name][0], r.images[0]])
        captions.append([name, f"to {target}: the model sees {label(r)}"])
    save_grid(rows, out / "translate.png", scale=1, titles=["photo", "translated"], captions=captions)

    rows, captions = [], []
    for name, box in (("chelsea", (0.35, 0.55, 0.3, 0.25)), ("rocket", (0.15, 0.05, 0.3, 0.3))):
        m = _box(ph[name], *box)
        start = patch_fill(ph[name], m[None, None] > 0)
        r = tasks.run(model, "inpaint", image=ph[name], mask=m)
        gentle = tasks.run(model, "inpaint", image=ph[name], mask=m, eps=1.0, step_size=0.15)
        rows.append([_shown(ph[name][0], m), start[0], r.images[0], gentle.images[0], ph[name][0]])
        captions.append(["hole", "patch fill (the start)", f"inpainted, card ({label(r)})",
                         f"inpainted, eps 1 ({label(gentle)})", "original"])
    save_grid(rows, out / "inpaint.png", scale=1, captions=captions,
              titles=["hole", "patch fill", "inpainted (card: eps 4)", "inpainted (eps 1)", "original"])

    for file, names in (("superresolve.png", ("coffee", "rocket")), ("superresolve-face.png", ("astronaut",))):
        rows, captions = [], []   # (save_grid gives every cell one size: photos of one shape per file)
        for name in names:
            low = F.avg_pool2d(ph[name], 4)
            r = tasks.run(model, "superresolve", image=low, factor=4)
            bicubic = F.interpolate(low, scale_factor=4, mode="bicubic", align_corners=False).clamp(0, 1)
            rows.append([F.interpolate(low, scale_factor=4, mode="nearest")[0], bicubic[0], r.images[0], ph[name][0]])
            captions.append([f"input {low.shape[-1]}x{low.shape[-2]}", "bicubic", f"4x ({label(r)})", "original"])
        save_grid(rows, out / file, scale=1, titles=["input", "bicubic", "super-resolved", "original"],
                  captions=captions)

    rows, captions = [], []
    for name, box, feature in (("coffee", (0.1, 0.1, 0.3, 0.35), 7), ("chelsea", (0.05, 0.05, 0.35, 0.35), 7)):
        m = _box(ph[name], *box)
        r = tasks.run(model, "paint", image=ph[name], mask=m, feature=feature)
        rows.append([_shown(ph[name][0], m), r.images[0]])
        captions.append(["stroke", f"feature {feature} painted"])
    save_grid(rows, out / "paint.png", scale=1, titles=["stroke", "painted"], captions=captions)


if __name__ == "__main__":
    main()
