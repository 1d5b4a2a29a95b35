"""Photographs at full resolution (issue 18), in one run: super-resolution against bicubic,
inpainting against flat, harmonic and patch fills, the fine detail translation keeps, and the CPU
time of a 512-px photo against a 128-px one.

    python -m bench.photos [--model ID] [--judge ID] [--n 30] [--threads 1]

Held-out images: the model's test set at its input size (128 px) and at the photos' own 224 px;
own photos: bench/photos/*.jpg (not in any training set). The judge (a non-robust classifier)
sees every image at its input size. Metrics: PSNR in dB against the original; "grid" = mean
neighbour difference across the factor x factor block borders over inside them (~1: no blocks);
"consistency" = max |area-downsampled result - input|; "texture" = Laplacian energy inside the hole
over the original's there; "detail kept" = Laplacian energy of the result over the photo's.
"""
import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from bench.common import DATA_ROOT, load, square_masks, test_images
from bench.quality import accuracy, hole_psnr, psnr
from server.synthesis import tasks
from server.synthesis.consistency import consistent_upsample, grid_ratio
from server.synthesis.data import load_image_folder
from server.synthesis.fill import harmonic_fill, mean_fill
from server.synthesis.models.registry import cache_dir
from server.synthesis.texture import patch_fill

PHOTOS = Path(__file__).resolve().parent / "photos"
_LAPLACE = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])


def photos(long_side: int | None = None) -> dict[str, torch.Tensor]:
    """bench/photos/*.jpg as (1,3,H,W), the long side resized to `long_side` (a multiple of 4) if given."""
    out = {}
    for path in sorted(PHOTOS.glob("*.jpg")):
        img = Image.open(path).convert("RGB")
        if long_side:
            s = long_side / max(img.size)
            img = img.resize((round(img.width * s / 4) * 4, round(img.height * s / 4) * 4), Image.LANCZOS)
        out[path.stem] = torch.from_numpy(np.asarray(img, np.float32) / 255).permute(2, 0, 1)[None]
    return out


def laplacian_energy(x: torch.Tensor, where: torch.Tensor | None = None) -> torch.Tensor:
    """(N,) mean squared Laplacian per image (inside `where`, (N,1,H,W), if given)."""
    lap = F.conv2d(x, _LAPLACE.to(x).expand(x.shape[1], 1, 3, 3), groups=x.shape[1]) ** 2
    if where is None:
        return lap.flatten(1).mean(1)
    m = where[..., 1:-1, 1:-1].float().expand_as(lap)
    return (lap * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)


def texture_ratio(x, original, hole) -> float:
    return (laplacian_energy(x, hole) / laplacian_energy(original, hole).clamp_min(1e-12)).mean().item()


def judged(judge, x, y) -> float:
    size = judge.meta.input_size
    return accuracy(judge, F.interpolate(x, size=(size, size), mode="bilinear", antialias=True), y)


def consistency(x, low, factor) -> float:
    return (F.avg_pool2d(x, factor) - low).abs().max().item()


def sr_rows(model, judge, x, y, factor=4) -> dict:
    """Bicubic, consistent bicubic and the task on x downsampled by `factor` (area)."""
    low = F.avg_pool2d(x, factor)
    methods = {"bicubic": F.interpolate(low, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1),
               "consistent bicubic": consistent_upsample(low, factor)}
    methods["superresolve"] = torch.cat([tasks.run(model, "superresolve", image=li[None], factor=factor).images
                                         for li in low]) if y is None else \
        tasks.run(model, "superresolve", image=low, factor=factor).images
    return {name: (psnr(im, x), float("nan") if y is None else judged(judge, im, y), grid_ratio(im, factor),
                   consistency(im, low, factor)) for name, im in methods.items()}


def inpaint_rows(model, judge, x, y, masks) -> dict:
    hole = masks > 0
    ours = tasks.run(model, "inpaint", image=x, mask=masks[:, 0], fill="patch").images
    smooth = tasks.run(model, "inpaint", image=x, mask=masks[:, 0], fill="harmonic").images
    methods = {"flat fill": mean_fill(x, masks), "harmonic fill": harmonic_fill(x, hole), "patch fill": patch_fill(x, hole),
               "inpaint from harmonic": smooth, "inpaint from patch (ours)": ours}
    outside = max((im - x)[~hole.expand_as(x)].abs().max().item() for im in (ours, smooth))
    rows = {name: (hole_psnr(im, x, masks), judged(judge, im, y), texture_ratio(im, x, hole))
            for name, im in methods.items()}
    return rows, outside


def translate_detail(model, x: torch.Tensor, target) -> tuple[float, float]:
    """Detail kept: the change carried back (now) and the whole 128-px result upsampled (before)."""
    problem = tasks.build(model, "translate", image=x, class_=target)
    result = tasks.solve(model, problem)
    now = tasks.finish(model, problem, result).images
    before = tasks.finish(model, replace(problem, carry=None), result).images
    base = laplacian_energy(x)
    return (laplacian_energy(now) / base).mean().item(), (laplacian_energy(before) / base).mean().item()


def cpu_seconds(model, task: str, x: torch.Tensor, **given) -> float:
    best = float("inf")
    for _ in range(2):
        t = time.process_time()
        tasks.run(model, task, image=x, **given)
        best = min(best, time.process_time() - t)
    return best


def table(title: str, header: str, rows: dict) -> None:
    columns = header.split(" / ")
    print(f"\n### {title}\n\n| | {' | '.join(columns)} |\n|---{'|---' * len(columns)}|")
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join("n/a" if v != v else f"{v:.3g}" for v in values) + " |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="imagenette-rn18w75-l2")
    ap.add_argument("--judge", default="imagenette-standard")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    model, judge = load(args.model, threads=args.threads), load(args.judge)
    x, y = test_images(args.n, seed=12, model=model)
    print(f"model {model.meta.id}, judge {judge.meta.id}, n={args.n}, threads {torch.get_num_threads()}")
    header = "PSNR / judge acc / grid / consistency"
    table(f"4x super-resolution, held-out {model.meta.input_size}-px images (judge on originals: "
          f"{judged(judge, x, y):.2f})", header, sr_rows(model, judge, x, y))
    for side in (256, 512):
        rows = {}
        for name, photo in photos(side).items():
            rows.update({f"{name}: {k}": v for k, v in sr_rows(model, judge, photo, None).items()})
        table(f"4x super-resolution of own photos, {side // 4} -> {side} px", header, rows)

    masks = square_masks(args.n, model.meta.input_size, seed=11)
    rows, outside = inpaint_rows(model, judge, x, y, masks)
    table(f"inpainting, held-out {model.meta.input_size}-px images (max change outside the hole {outside:g})",
          "hole PSNR / judge acc / texture", rows)
    ds = load_image_folder(DATA_ROOT / model.meta.dataset / "test", 224, cache_dir=cache_dir() / "datasets")
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(12))[:args.n]
    x224, y224 = ds.images[idx].float() / 255, ds.labels[idx]
    rows, outside = inpaint_rows(model, judge, x224, y224, square_masks(args.n, 224, seed=11))
    table(f"inpainting, held-out photos at their 224 px (max change outside the hole {outside:g})",
          "hole PSNR / judge acc / texture", rows)

    rows = {}
    for name, photo in photos(512).items():
        rows[f"own photo {name}, 512 px"] = translate_detail(model, photo, "church")
    rows["held-out, 224 px (mean)"] = translate_detail(model, x224[:8], "church")
    table("translation: detail kept (Laplacian energy of the result / the photo's)",
          "change carried back (now) / whole result upsampled (before)", rows)

    photo = photos(512)["astronaut"]
    small = F.interpolate(photo, size=(128, 128), mode="area")
    mask = torch.zeros(512, 512)
    mask[180:340, 180:340] = 1
    rows = {}
    for task, given in (("translate", {"class_": "church"}),
                        ("inpaint", {"mask": mask})):
        big = cpu_seconds(model, task, photo, **given)
        given_small = {**given, "mask": F.interpolate(mask[None, None], size=(128, 128))[0, 0]} if task == "inpaint" else given
        little = cpu_seconds(model, task, small, **given_small)
        rows[task] = (little, big, big / little)
    table("CPU seconds at batch 1 (best of 2)", "128-px photo / 512-px photo / ratio", rows)


if __name__ == "__main__":
    main()
