"""Task quality on the model's test images (../shared/data/<its dataset>), each figure beside a baseline from the same run.

    python -m bench.quality --model ID_OR_PATH --judge STANDARD_MODEL [--compare NONROBUST_MODEL] [--n 20]

The judge is an independently trained non-robust classifier: its accuracy on synthesized images
(label = the class asked for) against its accuracy on real test images says how recognisable they
are. With --compare, the same tasks run with a non-robust model as the synthesizer (same settings
as the robust model's); if that model is also the judge its samples are adversarial examples for
it, so they are judged by the robust model instead (marked "judged by robust").
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F

from bench.common import crude_sketch, disc_masks, load, square_masks, test_images
from server.synthesis import objectives, tasks


@torch.no_grad()
def accuracy(judge, x: torch.Tensor, y: torch.Tensor) -> float:
    return (judge(x).argmax(1) == y).float().mean().item()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over images of the PSNR in dB, for [0,1] images."""
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1 / mse)).mean().item()


def diversity(x: torch.Tensor, groups: torch.Tensor) -> float:
    """Mean pairwise L2 distance between images of the same group (class)."""
    dists = [torch.pdist(x[groups == g].flatten(1)).mean() for g in groups.unique() if (groups == g).sum() > 1]
    return torch.stack(dists).mean().item()


def bench_generate(model, judge, n, settings):
    classes = list(range(model.meta.num_classes))
    p = tasks.generate_problem(model, classes, n, seed=0, **settings)
    out = tasks.finish(model, p, tasks.solve(model, p))
    real, y_real = test_images(2000, seed=10, model=model)
    real = torch.cat([real[y_real == c][:n] for c in classes])
    y = torch.tensor(classes).repeat_interleave(n)
    return {"judge acc: generated": accuracy(judge, out.images, y), "judge acc: real test images": accuracy(judge, real, y),
            "judge acc: seeds alone": accuracy(judge, p.x0, y),
            "diversity (mean L2 within class): generated": diversity(out.images, y),
            "diversity: real": diversity(real, y), "diversity: seeds": diversity(p.x0, y)}


def bench_inpaint(model, judge, n, settings):
    x, y = test_images(n, seed=11, model=model)
    masks = square_masks(n, model.meta.input_size, seed=11)
    p = tasks.inpaint_problem(model, x, masks, **settings)
    out = tasks.finish(model, p, tasks.solve(model, p))
    return {"PSNR: mean fill": psnr(p.x0, x), "PSNR: inpainted": psnr(out.images, x),
            "judge acc: mean fill": accuracy(judge, p.x0, y), "judge acc: inpainted": accuracy(judge, out.images, y),
            "judge acc: originals": accuracy(judge, x, y)}


def bench_superresolve(model, judge, n, settings, factor=4):
    x, y = test_images(n, seed=12, model=model)
    low = F.interpolate(x, scale_factor=1 / factor, mode="area")
    nearest = F.interpolate(low, scale_factor=factor, mode="nearest")
    bicubic = F.interpolate(low, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)
    out = tasks.run(model, "superresolve", image=low, factor=factor, **settings).images
    return {"PSNR: nearest": psnr(nearest, x), "PSNR: bicubic": psnr(bicubic, x), "PSNR: ours": psnr(out, x),
            "judge acc: nearest": accuracy(judge, nearest, y), "judge acc: bicubic": accuracy(judge, bicubic, y),
            "judge acc: ours": accuracy(judge, out, y), "judge acc: originals": accuracy(judge, x, y),
            "consistency: PSNR of ours, downsampled, vs the input": psnr(F.interpolate(out, scale_factor=1 / factor,
                                                                                    mode="area"), low),
            "consistency: same for bicubic": psnr(F.interpolate(bicubic, scale_factor=1 / factor, mode="area"), low)}


def bench_translate(model, judge, n, settings, eps_scales=(0.25, 0.5, 1.0)):
    x, y = test_images(n, seed=13, model=model)
    c = model.meta.num_classes
    target = (y + 1 + torch.randint(0, c - 1, (n,), generator=torch.Generator().manual_seed(13))) % c
    eps0 = settings.get("eps") or tasks.task_defaults(model, "translate")["eps"]
    rows = {"judge target rate: source images": accuracy(judge, x, target)}
    for s in eps_scales:
        out = tasks.run(model, "translate", image=x, class_=target.tolist(), **{**settings, "eps": eps0 * s}).images
        moved = (out - x).flatten(1).norm(dim=1).mean().item()
        rows[f"judge target rate at eps {eps0 * s:.3g} (moved L2 {moved:.2f})"] = accuracy(judge, out, target)
    return rows


def bench_sketch(model, judge, n, settings):
    x, y = test_images(n, seed=14, model=model)
    s = crude_sketch(x)
    out = tasks.run(model, "sketch", image=s, class_=y.tolist(), **settings).images
    return {"judge acc: sketches": accuracy(judge, s, y), "judge acc: results": accuracy(judge, out, y),
            "moved L2 from sketch": (out - s).flatten(1).norm(dim=1).mean().item()}


def bench_paint(model, judge, n, settings):
    """How much the stroke changes versus the rest, and how far the painted feature rises there."""
    x, _ = test_images(n, seed=15, model=model)
    m = disc_masks(n, model.meta.input_size, seed=15)
    k = torch.randint(0, model.meta.num_features, (n,), generator=torch.Generator().manual_seed(15))
    out = tasks.run(model, "paint", image=x, mask=m, feature=k.tolist(), **settings).images
    change = (out - x).abs().mean(1, keepdim=True)
    region = objectives.feature(k, m)
    with torch.no_grad():
        before, after = region(model.outputs(x)), region(model.outputs(out))
    return {"mean |change| inside stroke": ((change * m).sum() / m.sum()).item(),
            "mean |change| outside stroke": ((change * (1 - m)).sum() / (1 - m).sum()).item(),
            "feature k in stroke: before": before.mean().item(), "feature k in stroke: after": after.mean().item()}


BENCHES = {"generate": bench_generate, "inpaint": bench_inpaint, "superresolve": bench_superresolve,
           "translate": bench_translate, "sketch": bench_sketch, "paint": bench_paint}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="the robust model (default: the shipped default)")
    ap.add_argument("--seeds", help="seed distribution file (default: the model's)")
    ap.add_argument("--judge", required=True, help="an independently trained non-robust classifier")
    ap.add_argument("--compare", help="a non-robust model to run the same tasks with")
    ap.add_argument("--n", type=int, default=20, help="images per task (generation: per class)")
    ap.add_argument("--only", nargs="*", choices=sorted(BENCHES))
    ap.add_argument("--threads", type=int)
    args = ap.parse_args(argv)
    robust = load(args.model, args.seeds, threads=args.threads)
    judge = load(args.judge)
    synths = [("robust", robust)]
    if args.compare:
        other = load(args.compare)
        other.seeds = robust.seeds
        synths.append(("non-robust", other))
    print(f"robust {robust.meta.id}, judge {args.judge}, n={args.n}, torch threads {torch.get_num_threads()}")
    for task, fn in BENCHES.items():
        if args.only and task not in args.only:
            continue
        settings = {k: v for k, v in tasks.task_defaults(robust, task).items() if k in ("steps", "step_size", "eps")}
        for label, model in synths:
            referee = robust if (model is not robust and args.compare == args.judge) else judge
            t = time.time()
            rows = fn(model, referee, args.n, settings)
            note = " (judged by robust)" if referee is robust else ""
            print(f"\n### {task}, synthesized by the {label} model{note} ({time.time() - t:.0f}s)")
            for k, v in rows.items():
                print(f"| {k} | {v:.3f} |" if not math.isnan(v) else f"| {k} | n/a |", flush=True)


if __name__ == "__main__":
    main()
