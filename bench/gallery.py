"""One labelled PNG per task in docs/gallery/, on random test images of the model's dataset (fixed
seeds, not hand-picked), with each task's default settings.

    python -m bench.gallery [--model ID_OR_PATH] [--seeds FILE] [--n 8] [--out DIR]

Captions under results are the synthesizing model's own prediction for the result.
"""
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from bench.common import (bench_parser, blob_sketch, crude_sketch, disc_masks, edge_sketch, load, save_grid,
                          square_masks, test_images)
from server.synthesis import tasks
from server.synthesis.features import top_feature
from server.synthesis.fill import mean_fill
from server.synthesis.palette import feature_palette


def _scale(model, cell: int = 96) -> int:
    """Enlargement that shows each image about `cell` px wide (3x for 32 px, none for 128 px)."""
    return max(1, round(cell / model.meta.input_size))


def _random_targets(y: torch.Tensor, num_classes: int, seed: int) -> torch.Tensor:
    """A random class other than the true one, per image."""
    gen = torch.Generator().manual_seed(seed)
    return (y + 1 + torch.randint(0, num_classes - 1, (len(y),), generator=gen)) % num_classes


def gallery_generate(model, n, out):
    names = model.meta.classes
    results = [tasks.run(model, "generate", class_=c, n=n, seed=c) for c in range(model.meta.num_classes)]
    save_grid([list(r.images) for r in results], out / "generate.png", scale=_scale(model), row_labels=names,
              captions=[r.class_names for r in results])


def gallery_translate(model, n, out):
    names = model.meta.classes
    x, y = test_images(n, seed=1, model=model)
    target = _random_targets(y, model.meta.num_classes, seed=1)
    r = tasks.run(model, "translate", image=x, class_=target.tolist())
    save_grid([[a, b] for a, b in zip(x, r.images)], out / "translate.png", scale=_scale(model),
              titles=["source", "translated"], captions=[["", c] for c in r.class_names],
              row_labels=[f"{names[a]} > {names[b]}" for a, b in zip(y.tolist(), target.tolist())])


def gallery_inpaint(model, n, out):
    x, y = test_images(n, seed=2, model=model)
    m = square_masks(n, model.meta.input_size, seed=2)
    p = tasks.build(model, "inpaint", image=x, mask=m)
    r = tasks.finish(model, p, tasks.solve(model, p))
    starts = p.problem.x0.cpu()
    save_grid([[a, b, c, d] for a, b, c, d in zip(x, mean_fill(x, m), starts, r.images)], out / "inpaint.png",
              scale=_scale(model), titles=["original", "flat fill", "start", "inpainted"],
              captions=[["", "", "", c] for c in r.class_names], row_labels=[model.meta.classes[c] for c in y.tolist()])


def gallery_superresolve(model, n, out, factor=4):
    x, y = test_images(n, seed=3, model=model)
    low = F.interpolate(x, scale_factor=1 / factor, mode="area")
    bicubic = F.interpolate(low, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)
    r = tasks.run(model, "superresolve", image=low, factor=factor)
    save_grid([[a, b, c, d] for a, b, c, d in zip(low, bicubic, r.images, x)], out / "superresolve.png", scale=_scale(model),
              titles=[f"input {low.shape[-1]}px", "bicubic", f"ours x{factor}", "original"],
              captions=[["", "", c, ""] for c in r.class_names],
              row_labels=[model.meta.classes[c] for c in y.tolist()])


def gallery_sketch(model, n, out):
    """Three kinds of sketch of each test image (bench/common.py): edges, colour blobs, blocks."""
    x, y = test_images(n, seed=4, model=model)
    sketches = [edge_sketch(x), blob_sketch(x), crude_sketch(x)]
    results = [tasks.run(model, "sketch", image=s, class_=y.tolist()) for s in sketches]
    rows = [[im for s, r in zip(sketches, results) for im in (s[i], r.images[i])] for i in range(n)]
    captions = [[c for r in results for c in ("", r.class_names[i])] for i in range(n)]
    save_grid(rows, out / "sketch.png", scale=_scale(model), captions=captions,
              titles=["edges", "result", "colour blobs", "result", "blocks", "result"],
              row_labels=[model.meta.classes[c] for c in y.tolist()])


def gallery_paint(model, n, out):
    """Random photos, each painted with the top named feature of a random other class."""
    x, y = test_images(n, seed=5, model=model)
    m = disc_masks(n, model.meta.input_size, seed=5)
    target = _random_targets(y, model.meta.num_classes, seed=5).tolist()
    k = [top_feature(model, c) for c in target]
    r = tasks.run(model, "paint", image=x, mask=m, feature=k)
    names = model.feature_names
    shown = x * (1 - 0.5 * m) + 0.5 * m * torch.tensor([1.0, 0, 1])[:, None, None]
    save_grid([[a, b, c] for a, b, c in zip(x, shown, r.images)], out / "paint.png", scale=_scale(model),
              titles=["original", "stroke", "painted"], captions=[["", "", c] for c in r.class_names],
              row_labels=[f"{names.features[i].name} ({i})" if names else f"feature {i}" for i in k])


def gallery_palette(model, out, count=64, per_row=16):
    """With names: per class its three strongest features (synthetic swatch, then photo crops); else
    the first `count` synthetic swatches."""
    if model.feature_names is None or model.feature_names.sheet is None:
        p = feature_palette(model)[:count]
        rows = [list(p[i:i + per_row]) for i in range(0, len(p), per_row)]
        save_grid(rows, out / "palette.png", scale=_scale(model, 64),
                  row_labels=[f"{i}-{i + len(r) - 1}" for i, r in zip(range(0, count, per_row), rows)])
        return
    named_palette_sheet(model.feature_names, model.meta.classes).save(out / "palette.png")


def named_palette_sheet(names, classes, per_class: int = 3, columns: int = 2) -> Image.Image:
    """A sheet a person can read: class by class, each feature's name beside its swatches."""
    font, bold = ImageFont.load_default(size=13), ImageFont.load_default(size=16)
    tile, gap, text_w = names.tile, 4, 250
    with Image.open(names.sheet) as im:
        sheet = im.convert("RGB")
    block_h = 24 + per_class * (tile + gap)
    col_w = text_w + names.slots * (tile + gap) + 24
    rows = -(-len(classes) // columns)
    canvas = Image.new("RGB", (columns * col_w, 30 + rows * (block_h + 10)), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((8, 6), "synthetic swatch (what painting it adds), then photos where it fires most", fill="gray", font=font)
    for c, name in enumerate(classes):
        x0, y0 = (c // rows) * col_w + 8, 30 + (c % rows) * (block_h + 10)
        draw.text((x0, y0), name.replace("_", " "), fill="black", font=bold)
        group = sorted((f for f in names.features if f.group == name), key=lambda f: f.rank)[:per_class]
        for r, f in enumerate(group):
            y = y0 + 24 + r * (tile + gap)
            draw.text((x0, y + tile / 2), f"{f.name.split(' · ', 1)[-1]}  (#{f.index})", fill="black", font=font,
                      anchor="lm")
            for slot in range(names.slots):
                canvas.paste(sheet.crop(names.box(f.index, slot)), (x0 + text_w + slot * (tile + gap), y))
    return canvas


JOBS = {"generate": gallery_generate, "translate": gallery_translate, "inpaint": gallery_inpaint,
        "superresolve": gallery_superresolve, "sketch": gallery_sketch, "paint": gallery_paint}


def main(argv=None):
    ap = bench_parser(__doc__)
    ap.add_argument("--seeds", help="seed distribution file (default: the model's)")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--out", type=Path, help="default docs/gallery (CIFAR-10) or docs/gallery/<dataset>")
    ap.add_argument("--only", nargs="*", choices=[*JOBS, "palette"], help="tasks to render (default: all)")
    args = ap.parse_args(argv)
    model = load(args.model, args.seeds, threads=args.threads)
    dataset = model.meta.dataset
    args.out = args.out or Path("docs/gallery") / ("" if dataset == "cifar10" else dataset)
    for name, fn in JOBS.items():
        if not args.only or name in args.only:
            t = time.time()
            fn(model, args.n, args.out)
            print(f"{name}: {time.time() - t:.1f}s", flush=True)
    if not args.only or "palette" in args.only:
        t = time.time()
        gallery_palette(model, args.out)
        print(f"palette: {time.time() - t:.1f}s", flush=True)


if __name__ == "__main__":
    main()
