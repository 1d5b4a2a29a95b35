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
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from bench.common import DATA_ROOT, bench_parser, box_masks, brush_masks, load, square_masks, test_images
from bench.quality import accuracy, hole_psnr, psnr
from server.synthesis import tasks
from server.synthesis.consistency import consistent_upsample, grid_ratio
from server.synthesis.data import load_image_folder
from server.synthesis.fill import harmonic_fill, mean_fill
from server.synthesis.models.registry import cache_dir
from server.synthesis.texture import patch_fill, patchmatch_fill

PHOTOS = Path(__file__).resolve().parent / "photos"
FILL_NAMES = ("flat (mean colour)", "harmonic (ours)", "patch (ours)", "opencv telea", "opencv ns", "xphoto fsr_fast",
              "xphoto shiftmap", "pypatchmatch 3")
THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)
GUARD_N = 100     # in-class test photos whose automatic class's confidence is measured
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


# Fills for a hole, compared in one run (--only fills): the project's own and the libraries'. Each
# takes x (1,3,H,W) in [0,1] and hole (1,1,H,W) bool and returns x with the hole filled.
def _u8(x: torch.Tensor) -> np.ndarray:
    return (x[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


def _opencv(kind: str):
    import cv2   # opencv-contrib-python-headless: a benchmark candidate, not a dependency of the server
    cv2.setNumThreads(1)

    def fill(x, hole):
        img, m = _u8(x), hole[0, 0].numpy().astype(np.uint8) * 255
        if kind in ("telea", "ns"):
            out = cv2.inpaint(img, m, 3, cv2.INPAINT_TELEA if kind == "telea" else cv2.INPAINT_NS)
        else:   # xphoto: the mask marks the KNOWN pixels
            out = np.empty_like(img)
            cv2.xphoto.inpaint(img, 255 - m, out, getattr(cv2.xphoto, "INPAINT_" + kind.upper()))
        return torch.where(hole, torch.from_numpy(out).permute(2, 0, 1)[None].float() / 255, x)
    return fill


def fill_candidates(names: list[str]) -> dict:
    own = {"patch (ours)": lambda x, h: patch_fill(x, h), "harmonic (ours)": harmonic_fill,
           "flat (mean colour)": lambda x, h: mean_fill(x, h.float())}
    libs = {"opencv telea": ("telea",), "opencv ns": ("ns",), "xphoto fsr_fast": ("fsr_fast",),
            "xphoto fsr_best": ("fsr_best",), "xphoto shiftmap": ("shiftmap",)}
    out = {}
    for name in names:
        if name in own:
            out[name] = own[name]
        elif name in libs:
            out[name] = _opencv(*libs[name])
        elif name.startswith("pypatchmatch"):
            radius = int(name.split()[-1])
            out[name] = lambda x, h, radius=radius: patchmatch_fill(x, h, radius=radius)
    return out


def ssim_map(a: torch.Tensor, b: torch.Tensor, win: int = 7) -> torch.Tensor:
    """(N,1,H,W) SSIM of the luma of a and b in win x win windows (uniform; Wang et al. 2004's constants)."""
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    a, b = (a * luma).sum(1, keepdim=True), (b * luma).sum(1, keepdim=True)
    mean = lambda t: F.avg_pool2d(F.pad(t, (win // 2,) * 4, mode="replicate"), win, 1)
    ma, mb = mean(a), mean(b)
    va, vb, cov = mean(a * a) - ma ** 2, mean(b * b) - mb ** 2, mean(a * b) - ma * mb
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))


def seam_ratio(x: torch.Tensor, hole: torch.Tensor) -> float:
    """Mean colour jump between neighbours across the hole's edge over the mean jump between known
    neighbours 3-6 px outside it (the same image's typical neighbour difference): ~1, no seam."""
    h = hole.float()
    ring = F.max_pool2d(h, 13, 1, 6) - F.max_pool2d(h, 5, 1, 2)   # known pixels 3..6 px from the hole
    cross, typical = [], []
    for dy, dx in ((0, 1), (1, 0)):
        a, b = x[..., :x.shape[2] - dy, :x.shape[3] - dx], x[..., dy:, dx:]
        ha, hb = h[..., :h.shape[2] - dy, :h.shape[3] - dx], h[..., dy:, dx:]
        ra, rb = ring[..., :h.shape[2] - dy, :h.shape[3] - dx], ring[..., dy:, dx:]
        d = (a - b).abs().mean(1, keepdim=True)
        cross.append((d, (ha != hb).float()))
        typical.append((d, ra * rb))
    mean = lambda pairs: sum((d * w).sum() for d, w in pairs) / sum(w.sum() for _, w in pairs).clamp_min(1)
    return (mean(cross) / mean(typical).clamp_min(1e-6)).item()


def fill_rows(judge, images: list, labels, masks: list, fills: dict) -> dict:
    """fill name -> (hole PSNR, hole SSIM, seam, judge acc, seconds per image) over images[i] with masks[i]."""
    rows = {}
    for name, fill in fills.items():
        psnrs, ssims, seams, outs, secs = [], [], [], [], []
        for x, m in zip(images, masks):
            hole = m[None] > 0
            t = time.perf_counter()
            y = fill(x, hole)
            secs.append(time.perf_counter() - t)
            assert torch.equal(y[~hole.expand_as(y)], x[~hole.expand_as(x)]), name   # known pixels kept
            psnrs.append(hole_psnr(y, x, hole.float()))
            ssims.append((ssim_map(y, x) * hole).sum().item() / hole.sum().item())
            seams.append(seam_ratio(y, hole))
            outs.append(y)
        acc = float("nan") if labels is None else judged(judge, torch.cat(outs), labels)
        rows[name] = (np.mean(psnrs), np.mean(ssims), np.mean(seams), acc, np.mean(secs))
    originals = {"the originals": (float("nan"), 1.0, np.mean([seam_ratio(x, m[None] > 0) for x, m in zip(images, masks)]),
                                   float("nan") if labels is None else judged(judge, torch.cat(images), labels), 0.0)}
    return {**originals, **rows}


@torch.no_grad()
def confidence(model, x: torch.Tensor, mask: torch.Tensor, **settings) -> tuple[float, float, int]:
    """(softmax max, margin between the top two, the class) of the model on the start inpainting pushes from:
    what the automatic class is guessed from."""
    x0 = tasks.build(model, "inpaint", image=x, mask=mask, steps=0, **settings).problem.x0
    p, c = model(x0.to(model.device)).softmax(1)[0].cpu().sort(descending=True)
    return p[0].item(), (p[0] - p[1]).item(), c[0].item()


def out_of_class_photos() -> dict[str, torch.Tensor]:
    """Photos of none of the photo model's classes, offline: bench/photos and scikit-image's bundled
    natural images (grey ones as RGB) other than those four."""
    out = {f"photo {k}": v for k, v in photos().items()}
    try:
        import skimage.data as data
    except ImportError:
        return out
    for name in ("camera", "coins", "moon", "page", "text", "clock", "brick", "grass", "gravel", "hubble_deep_field",
                 "immunohistochemistry", "retina", "colorwheel"):
        try:
            im = np.asarray(getattr(data, name)())
        except Exception:   # a sample scikit-image would have to download
            continue
        im = np.repeat(im[..., None], 3, 2) if im.ndim == 2 else im[..., :3]
        out[f"skimage {name}"] = torch.from_numpy(im.astype(np.float32) / 255).permute(2, 0, 1)[None]
    return out


def cifar_out_of_class(n_per_class: int = 10) -> tuple[list, list]:
    """CIFAR-10 test images of classes Imagenette lacks (dog and truck left out), as 32-px photos."""
    ds = load_image_folder(DATA_ROOT / "cifar10" / "test", 32, cache_dir=cache_dir() / "datasets")
    keep = [i for i, c in enumerate(ds.classes) if c not in ("dog", "truck")]
    idx = [j for c in keep for j in (ds.labels == c).nonzero()[:n_per_class, 0].tolist()]
    return [ds.images[j:j + 1].float() / 255 for j in idx], idx


def guard_groups(model, x224) -> dict:
    """name -> [(softmax max, margin, guess)] of the automatic class on the card's fill, in-class
    held-out photos against out-of-class ones (each with a seeded box hole)."""
    groups = {"Imagenette test (in class), 224 px": [
        confidence(model, x[None], box_masks(1, 224, 224, seed=1000 + k)[0, 0]) for k, x in enumerate(x224)]}
    other = out_of_class_photos()
    groups[f"own + scikit-image photos (out of class)"] = [
        confidence(model, im, box_masks(1, *im.shape[2:], seed=k)[0, 0]) for k, im in enumerate(other.values())]
    cifar, _ = cifar_out_of_class()
    groups["CIFAR-10 test, 8 other classes, 32 px"] = [
        confidence(model, im, box_masks(1, 32, 32, seed=k)[0, 0]) for k, im in enumerate(cifar)]
    print("\nout-of-class photos, the guess on the fill: " + ", ".join(
        f"{name} {model.meta.classes[c]} {p:.2f}" for name, (p, _, c) in zip(other, groups["own + scikit-image photos (out of class)"])))
    return groups


def box_cases(ds, n: int) -> tuple:
    """The inpainting cases of guard_main and radius_main: n held-out 224-px photos (seed 12) with a box
    hole each (seed 13), their labels, and each own photo with three box holes, as (photo, mask) pairs."""
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(12))[:n]
    own = [(im, box_masks(1, *im.shape[2:], seed=100 * k + j)[0, 0]) for k, im in enumerate(photos().values())
           for j in range(3)]
    return ds.images[idx].float() / 255, ds.labels[idx], box_masks(n, 224, 224, seed=13), own


def guard_main(model, judge, ds, n: int) -> None:
    """The automatic class's confidence in and out of the model's classes, the share each threshold
    lets through, and what the card's threshold does to inpainting held-out and own photos."""
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(14))[:GUARD_N]
    groups = guard_groups(model, ds.images[idx].float() / 255)
    rows = {}
    for name, values in groups.items():
        rows[f"{name} ({len(values)}): softmax max"] = quantiles([v[0] for v in values])
        rows[f"{name} ({len(values)}): margin"] = quantiles([v[1] for v in values])
    table("the automatic class's confidence on the fill (card's fill)", "n / 10% / 25% / median / 75% / 90%", rows)
    rows = {f"min_confidence {t:g}": tuple(np.mean([v[0] >= t for v in values]) for values in groups.values())
            for t in THRESHOLDS}
    table("share of images pushed toward their guess", " / ".join(groups), rows)

    card = model.meta.task_defaults["inpaint"]
    x224, y224, masks, own = box_cases(ds, n)
    rows = {}
    # guess on in every row but the card's own: the card may keep the fill whatever the guess (guess off)
    runs = {"before: patch fill, min_confidence 0": {"fill": "patch", "min_confidence": 0.0, "eps": 4.0, "step_size": 0.6,
                                                     "guess": "on"},
            **{f"min_confidence {t:g}": {"guess": "on", "min_confidence": t}
               for t in sorted({0.0, card.get("min_confidence", 0.0)})},
            f"the card (guess {card.get('guess', 'on')})": {}}
    for name, given in runs.items():
        outs = [tasks.run(model, "inpaint", image=x[None], mask=m[0], **given) for x, m in zip(x224, masks)]
        images = torch.cat([o.images for o in outs])
        pushed = np.mean([not o.notes or not o.notes[0] for o in outs])
        mine = [tasks.run(model, "inpaint", image=im, mask=m, **given) for im, m in own]
        rows[name] = (
            hole_psnr(images, x224, masks), np.mean([seam_ratio(im[None], m[None] > 0) for im, m in zip(images, masks)]),
            judged(judge, images, y224), pushed, np.mean([not o.notes or not o.notes[0] for o in mine]),
            np.mean([seam_ratio(o.images, m[None, None] > 0) for o, (_, m) in zip(mine, own)]))
    table(f"inpainting (card) with and without the guard: {n} held-out 224-px photos / own photos (4 x 3), box holes",
          "hole PSNR / seam / judge acc / share pushed / own photos: share pushed / seam", rows)


def radius_main(model, judge, n: int) -> None:
    """The card's inpainting at radii 1, 2 and 4 (step 0.15 * eps), guarded at min_confidence 0.8, against
    the fill alone: held-out 224-px photos and own photos with box holes, as in guard_main (--only radius)."""
    x224, y224, masks, own = box_cases(test_224(model), n)
    fills = [tasks.run(model, "inpaint", image=im, mask=m, steps=0).images for im, m in own]
    rows = {}
    for name, given in {"the fill alone (0 steps)": {"steps": 0}, **{f"eps {e:g}": {"eps": e, "step_size": 0.15 * e, "guess": "on", "min_confidence": 0.8}
                                                                     for e in (1.0, 2.0, 4.0)}}.items():
        images = torch.cat([tasks.run(model, "inpaint", image=x[None], mask=m[0], **given).images
                            for x, m in zip(x224, masks)])
        mine = [tasks.run(model, "inpaint", image=im, mask=m, **given).images for im, m in own]
        rows[name] = (hole_psnr(images, x224, masks), np.mean([seam_ratio(im[None], m[None] > 0) for im, m in zip(images, masks)]),
                      judged(judge, images, y224), np.mean([seam_ratio(o, m[None, None] > 0) for o, (_, m) in zip(mine, own)]),
                      np.mean([(o - f).abs().mean(1)[0][m > 0].mean().item() for o, f, (_, m) in zip(mine, fills, own)]))
    table(f"inpainting (card) by radius: {n} held-out 224-px photos / own photos (4 x 3), box holes",
          "hole PSNR / seam / judge acc / own photos: seam / own photos: mean change from the fill in the hole", rows)


def quantiles(values) -> tuple:
    v = np.array(values)
    return (len(v), *np.quantile(v, [0.1, 0.25, 0.5, 0.75, 0.9]))


def test_224(model):
    return load_image_folder(DATA_ROOT / model.meta.dataset / "test", 224, cache_dir=cache_dir() / "datasets")


def fills_main(model, judge, n: int, names: list[str]) -> None:
    """The fills compared (--only fills): held-out 224-px test photos and own photos, box and brush holes."""
    fills = fill_candidates(names)
    ds = test_224(model)
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(12))[:n]
    x224, y224 = ds.images[idx].float() / 255, ds.labels[idx]
    header = "hole PSNR / hole SSIM / seam / judge acc / s per image"
    own = photos()
    for shape, make in (("box", box_masks), ("brush", brush_masks)):
        masks = make(n, 224, 224, seed=13)
        table(f"fills, {n} held-out test photos at 224 px, {shape} holes (5-20%)", header,
              fill_rows(judge, list(x224[:, None]), y224, list(masks), fills))
        images, ms = [], []
        for k, im in enumerate(own.values()):
            for j in range(3):
                images.append(im)
                ms.append(make(1, *im.shape[2:], seed=100 * k + j)[0])
        table(f"fills, own photos at their resolution (4 x 3 {shape} holes)", header,
              fill_rows(judge, images, None, ms, fills))
    guard_main(model, judge, ds, n)


def main(argv=None):
    ap = bench_parser(__doc__, model="imagenette-rn18w75-l2", judge="imagenette-standard", threads=1)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--only", choices=["fills", "guard", "radius"], help="only the fills compared and the automatic "
                    "class's confidence (fills), only the latter (guard), or only inpainting's radius (radius)")
    ap.add_argument("--fills", default=",".join(FILL_NAMES), help="the fills compared, comma-separated")
    args = ap.parse_args(argv)
    model, judge = load(args.model, threads=args.threads), load(args.judge)
    if args.only == "fills":
        return fills_main(model, judge, args.n, args.fills.split(","))
    if args.only == "guard":
        return guard_main(model, judge, test_224(model), args.n)
    if args.only == "radius":
        return radius_main(model, judge, args.n)
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
