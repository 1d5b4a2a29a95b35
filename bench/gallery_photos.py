"""The image tasks on own photographs (bench/photos/, in no training set), at the photos' resolution:
docs/gallery/photos/<task>.png, each row a photo, with what went in and what came out side by side.
The photo model knows 10 classes; on photos of none of them (a cat, a rocket) its class evidence is
out of place, which inpainting shows most: its gallery has the card beside eps 4 guarded at 0.8.

    python -m bench.gallery_photos [--model ID] [--side 384] [--out docs/gallery/photos] [--only inpaint]

inpaint-fills-own.png and inpaint-fills-test.png: random holes (seeded boxes and brush strokes, 5-20%
of the image) in the own photos and in random held-out Imagenette test photos, cropped around the hole: the fill and the result of
the card before 2026-12-04 (our patch fill, every guess painted) beside the card's now (PyPatchMatch's
fill, an unsure guess left unpainted).
"""
import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.common import box_masks, brush_masks, load, save_grid
from bench.photos import photos, test_224
from server.synthesis import tasks
from server.synthesis.texture import FILLS

BEFORE = {"fill": "patch", "guess": "on", "min_confidence": 0.0, "eps": 4.0, "step_size": 0.6}   # the photo card's inpainting before 2026-12-04
CROP = 112   # gallery cells: a square around the hole, shown at this size


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
    ap.add_argument("--only", choices=["inpaint"], help="only the inpainting galleries")
    args = ap.parse_args(argv)
    model, out = load(args.model), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ph = photos(args.side)
    label = lambda r: r.class_names[0].replace("_", " ")
    inpaint_fills(model, out)
    if args.only == "inpaint":
        return inpaint_gallery(model, ph, out, label)

    rows, captions = [], []
    for name, target in (("chelsea", "english_springer"), ("rocket", "parachute")):
        r = tasks.run(model, "translate", image=ph[name], class_=target)
        rows.append([ph[name][0], r.images[0]])
        captions.append([name, f"to {target}: the model sees {label(r)}"])
    save_grid(rows, out / "translate.png", scale=1, titles=["photo", "translated"], captions=captions)

    inpaint_gallery(model, ph, out, label)
    rest(model, ph, out, label)


def inpaint_gallery(model, ph, out, label) -> None:
    rows, captions = [], []
    fill = FILLS[model.meta.task_defaults["inpaint"]["fill"]]
    for name, box in (("chelsea", (0.35, 0.55, 0.3, 0.25)), ("rocket", (0.15, 0.05, 0.3, 0.3))):
        m = _box(ph[name], *box)
        start = fill(ph[name], m[None, None] > 0)
        r = tasks.run(model, "inpaint", image=ph[name], mask=m)
        strong = tasks.run(model, "inpaint", image=ph[name], mask=m, eps=4.0, step_size=0.6, guess="on", min_confidence=0.8)
        rows.append([_shown(ph[name][0], m), start[0], r.images[0], strong.images[0], ph[name][0]])
        captions.append(["hole", "fill (the start)", _verdict(r, label), f"inpainted, eps 4 ({_verdict(strong, label)})",
                         "original"])
    save_grid(rows, out / "inpaint.png", scale=1, captions=captions,
              titles=["hole", "fill", "inpainted (card)", "eps 4, guard 0.8 (the card until 2026-12-04)", "original"])


def _verdict(r, label) -> str:
    return "fill only" if r.notes and r.notes[0] else label(r)   # unsure of its guess, or guess off


def _crop(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(3,CROP,CROP): a square around the hole, 1.6 times its larger side, inside the image."""
    h, w = mask.shape
    ys, xs = mask.nonzero(as_tuple=True)
    side = min(h, w, max(32, round(1.6 * max(int(ys.max() - ys.min()), int(xs.max() - xs.min())))))
    cy, cx = int(ys.float().mean()), int(xs.float().mean())
    top, left = min(max(cy - side // 2, 0), h - side), min(max(cx - side // 2, 0), w - side)
    return F.interpolate(x[None, :, top:top + side, left:left + side], size=(CROP, CROP), mode="bilinear",
                         antialias=True, align_corners=False)[0].clamp(0, 1)


def inpaint_fills(model, out: Path, n_test: int = 4) -> None:
    """Before and after 2026-12-04 on random holes: each own photo with a box and a brush hole, and
    n_test random held-out test photos (seed 21) with one of each."""
    ds = test_224(model)
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(21))[:n_test]
    own = [(f"{name}", im) for name, im in photos().items()]
    test = [(f"test {model.meta.classes[int(ds.labels[i])]}", ds.images[i:i + 1].float() / 255) for i in idx.tolist()]
    _fills_grid(model, own, 0, out / "inpaint-fills-own.png")
    _fills_grid(model, test, len(own), out / "inpaint-fills-test.png")


def _fills_grid(model, cases: list, first: int, path: Path) -> None:
    rows, captions = [], []
    label = lambda r: r.class_names[0].replace("_", " ")
    for k, (name, x) in enumerate(cases, start=first):
        for shape, make in (("box", box_masks), ("brush", brush_masks)):
            m = make(1, *x.shape[2:], seed=2100 + k)[0, 0]
            hole = m[None, None] > 0
            old = tasks.run(model, "inpaint", image=x, mask=m, **BEFORE)
            new = tasks.run(model, "inpaint", image=x, mask=m)
            cells = [_shown(x[0], m), FILLS["patch"](x, hole)[0], old.images[0],
                     FILLS[model.meta.task_defaults["inpaint"]["fill"]](x, hole)[0], new.images[0], x[0]]
            rows.append([_crop(c, m) for c in cells])
            captions.append([f"{name}, {shape}", "", _verdict(old, label), "", _verdict(new, label), ""])
    save_grid(rows, path, scale=1, captions=captions,
              titles=["hole", "patch fill", "before: inpainted", "patchmatch fill", "now: inpainted", "original"])


def rest(model, ph, out, label) -> None:
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
