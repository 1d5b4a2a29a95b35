"""Task quality on the model's test images (../shared/data/<its dataset>): the paper's procedure and
the model card's defaults side by side, in one run.

    python -m bench.quality --model ID_OR_PATH --judge STANDARD_MODEL [--compare NONROBUST_MODEL] [--n 20]

The judge is an independently trained non-robust classifier: its accuracy on synthesized images
(label = the class asked for) against its accuracy on real test images says how recognisable they
are, and its penultimate features measure how real and how varied generated images are (FID,
precision/recall, within-class spread; bench/realism.py). Methods: "paper" = the settings the
shipped cards had before issue 9 (fixed steps of plain normalized-gradient ascent, inpainting from
a flat fill held by a penalty), "before" = the cards' defaults when issue 20 was filed (BEFORE; with
--before-model, on that model's weights: the photo model before its second training cycle), "card" =
the card's current defaults. "steps" rows: the steps of
the run, and the mean over images of the step each settled (early stopping) — what a user waits for.
With --compare, the tasks also run with a non-robust model as the synthesizer (card settings); if
that model is also the judge its samples are judged by the robust model instead.
"""
import math
import os
import time
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from bench.common import (REQUIRED, bench_parser, blob_sketch, crude_sketch, disc_masks, edge_sketch, load,
                          square_masks, test_images)
from bench.realism import features, frechet_distance, precision_recall, within_class_distance
from server.synthesis import objectives, tasks
from server.synthesis.fill import mean_fill
from server.synthesis.tasks.registry import LOOKS_OFF

# The shipped cards' task defaults before issue 9 (the paper's procedure), as explicit settings.
_PAPER_RULE = {"rule": "pgd", "patience": 0}
_PAPER_INPAINT = {"fill": "mean", "known": "penalty", **_PAPER_RULE}
PAPER = {
    "cifar10-rn18h-l2": {
        "generate": {"steps": 40, "step_size": 0.5, "eps": 30.0, "temperature": 1.0, **_PAPER_RULE},
        "translate": {"steps": 60, "step_size": 0.25, "eps": 6.0, **_PAPER_RULE},
        "inpaint": {"steps": 150, "step_size": 0.05, "eps": 3.0, "penalty_weight": 50.0, **_PAPER_INPAINT},
        "superresolve": {"steps": 60, "step_size": 0.3, "eps": 4.0, **_PAPER_RULE},
        "sketch": {"steps": 100, "step_size": 0.3, "eps": 10.0, **_PAPER_RULE},
        "paint": {"steps": 60, "step_size": 0.2, "eps": 10.0, "feature_weight": 0.1, "penalty_weight": 90.0,
                  **_PAPER_RULE},
    },
    "imagenette-rn18w75-l2": {
        "generate": {"steps": 40, "step_size": 2.0, "eps": 120.0, "temperature": 1.0, **_PAPER_RULE},
        "translate": {"steps": 40, "step_size": 0.6, "eps": 12.0, **_PAPER_RULE},
        "inpaint": {"steps": 75, "step_size": 0.2, "eps": 6.0, "penalty_weight": 50.0, **_PAPER_INPAINT},
        "superresolve": {"steps": 30, "step_size": 1.2, "eps": 16.0, **_PAPER_RULE},
        "sketch": {"steps": 50, "step_size": 2.4, "eps": 40.0, **_PAPER_RULE},
        "paint": {"steps": 30, "step_size": 0.8, "eps": 20.0, "feature_weight": 0.1, "penalty_weight": 90.0,
                  **_PAPER_RULE},
    },
}
# The shipped cards' task defaults when issue 20 was filed (commit 2bc51fe: before issues 18 and 20
# changed the photo card's generation, inpainting and super-resolution), run with today's code and
# issue 20's levers at their legacy (off) values: the "before" method.
BEFORE = {
    "imagenette-rn18w75-l2": {
        "generate": {"steps": 20, "step_size": 4.0, "eps": 120.0, "rule": "momentum", "patience": 0, "temperature": 1.0,
                     **LOOKS_OFF},
        "translate": {"steps": 20, "step_size": 1.2, "eps": 12.0, "rule": "pgd", "patience": 3},
        "inpaint": {"steps": 20, "step_size": 0.4, "eps": 2.0, "penalty_weight": 10.0, "rule": "momentum", "patience": 3, "fill": "harmonic", "known": "exact"},
        "superresolve": {"steps": 15, "step_size": 2.4, "eps": 16.0, "rule": "pgd", "patience": 3},
        "sketch": {"steps": 25, "step_size": 4.8, "eps": 40.0, "rule": "pgd", "patience": 0},
        "paint": {"steps": 15, "step_size": 4.5, "eps": 20.0, "feature_weight": 0.1, "penalty_weight": 90.0, "rule": "momentum", "patience": 0},
    },
    "cifar10-rn18h-l2": {
        "generate": {"steps": 20, "step_size": 1.0, "eps": 30.0, "rule": "momentum", "patience": 3, "temperature": 2.0,
                     **LOOKS_OFF},
        "translate": {"steps": 30, "step_size": 0.5, "eps": 6.0, "rule": "pgd", "patience": 3},
        "inpaint": {"steps": 20, "step_size": 0.2, "eps": 1.0, "penalty_weight": 10.0, "rule": "momentum", "patience": 3, "fill": "harmonic", "known": "exact"},
        "superresolve": {"steps": 30, "step_size": 0.6, "eps": 4.0, "rule": "pgd", "patience": 3},
        "sketch": {"steps": 30, "step_size": 1.0, "eps": 10.0, "rule": "pgd", "patience": 0},
        "paint": {"steps": 30, "step_size": 1.0, "eps": 10.0, "feature_weight": 0.1, "penalty_weight": 90.0, "rule": "momentum", "patience": 0},
    },
}
REAL_FOR_FID = 1000   # real test images the samples are compared with


@contextmanager
def card_defaults(model, defaults: dict | None):
    """Run with `defaults` in place of the card's task defaults (None: the card's own)."""
    saved = model.meta.task_defaults
    if defaults is not None:
        model.meta.task_defaults = {**(saved or {}), **defaults}
    try:
        yield
    finally:
        model.meta.task_defaults = saved


@torch.no_grad()
def accuracy(judge, x: torch.Tensor, y: torch.Tensor) -> float:
    return (judge(x.to(judge.device)).argmax(1).cpu() == y.cpu()).float().mean().item()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over images of the PSNR in dB, for [0,1] images."""
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1 / mse)).mean().item()


def hole_psnr(a: torch.Tensor, b: torch.Tensor, hole: torch.Tensor) -> float:
    """Mean over images of the PSNR in dB over the pixels where hole is 1."""
    m = hole.expand_as(a)
    mse = (((a - b) ** 2) * m).flatten(1).sum(1) / m.flatten(1).sum(1)
    return (10 * torch.log10(1 / mse.clamp_min(1e-10))).mean().item()


def diversity(x: torch.Tensor, groups: torch.Tensor) -> float:
    """Mean pairwise L2 distance between images of the same group (class)."""
    return within_class_distance(x.flatten(1), groups)


def run(model, problem) -> tuple[torch.Tensor, dict]:
    """Display-size results of a task run, and its step counts."""
    result = tasks.solve(model, problem)
    steps = {"steps: run / mean per image until settled": (result.steps_done, result.settled_at.float().mean().item())}
    return tasks.finish(model, problem, result).images, steps


def bench_generate(model, judge, n):
    classes = list(range(model.meta.num_classes))
    p = tasks.build(model, "generate", class_=classes, n=n, seed=0)
    images, steps = run(model, p)
    seeds = p.problem.x0.cpu()
    real, y_real = test_images(2000, seed=10, model=model)
    real = torch.cat([real[y_real == c][:n] for c in classes])
    y = torch.tensor(classes).repeat_interleave(n)
    pool = features(judge, test_images(REAL_FOR_FID, seed=20, model=model)[0])
    rows = {"judge acc: generated / real test images / seeds alone":
            (accuracy(judge, images, y), accuracy(judge, real, y), accuracy(judge, seeds, y))}
    for name, x in (("generated", images), ("real test images", real), ("seeds", seeds)):
        f = features(judge, x)
        rows[f"{name}: FID / precision / recall vs {REAL_FOR_FID} other real images"] = (
            frechet_distance(f, pool), *precision_recall(f, pool))
        rows[f"{name}: within-class spread, judge features / pixels (L2)"] = (
            within_class_distance(f, y), diversity(x, y))
    return {**rows, **steps}


def bench_inpaint(model, judge, n):
    x, y = test_images(n, seed=11, model=model)
    masks = square_masks(n, model.meta.input_size, seed=11)
    p = tasks.build(model, "inpaint", image=x, mask=masks)
    images, steps = run(model, p)
    start = p.problem.x0.cpu()
    flat = mean_fill(x, masks)
    known = (masks == 0).expand_as(x)
    return {"PSNR in the hole: flat mean-colour fill / start / inpainted": (
                hole_psnr(flat, x, masks), hole_psnr(start, x, masks), hole_psnr(images, x, masks)),
            "PSNR, whole image: flat fill / start / inpainted": (psnr(flat, x), psnr(start, x), psnr(images, x)),
            "judge acc: flat fill / start / inpainted / originals": (accuracy(judge, flat, y), accuracy(judge, start, y),
                                                                     accuracy(judge, images, y), accuracy(judge, x, y)),
            "max abs change outside the hole": ((images - x)[known].abs().max().item(),), **steps}


def bench_superresolve(model, judge, n, factor=4):
    x, y = test_images(n, seed=12, model=model)
    low = F.interpolate(x, scale_factor=1 / factor, mode="area")
    bicubic = F.interpolate(low, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)
    out, steps = run(model, tasks.build(model, "superresolve", image=low, factor=factor))
    down = lambda im: F.interpolate(im, scale_factor=1 / factor, mode="area")
    return {"PSNR: bicubic / ours": (psnr(bicubic, x), psnr(out, x)),
            "judge acc: bicubic / ours / originals": (accuracy(judge, bicubic, y), accuracy(judge, out, y),
                                                       accuracy(judge, x, y)),
            "consistency, PSNR downsampled vs the input: bicubic / ours": (psnr(down(bicubic), low),
                                                                           psnr(down(out), low)), **steps}


def bench_translate(model, judge, n, eps_scales=(0.25, 0.5, 1.0)):
    x, y = test_images(n, seed=13, model=model)
    c = model.meta.num_classes
    target = (y + 1 + torch.randint(0, c - 1, (n,), generator=torch.Generator().manual_seed(13))) % c
    eps0 = tasks.task_defaults(model, "translate")["eps"]
    rows = {"judge target rate: source images": (accuracy(judge, x, target),)}
    for s in eps_scales:
        out, steps = run(model, tasks.build(model, "translate", image=x, class_=target.tolist(), eps=eps0 * s))
        moved = (out - x).flatten(1).norm(dim=1).mean().item()
        rows[f"eps x{s:g} ({eps0 * s:.3g}): judge target rate / L2 moved"] = (accuracy(judge, out, target), moved)
    return {**rows, **steps}   # steps: at the default eps


def bench_sketch(model, judge, n):
    """Three kinds of sketch of held-out photos (bench/common.py): thresholded edge maps (dark lines
    on white), colour blobs (heavy blur, posterized) and the old 8x8 colour blocks."""
    x, y = test_images(n, seed=14, model=model)
    rows = {}
    for kind, make in (("edges", edge_sketch), ("colour blobs", blob_sketch), ("blocks", crude_sketch)):
        s = make(x)
        out, steps = run(model, tasks.build(model, "sketch", image=s, class_=y.tolist()))
        rows[f"{kind}: judge acc, sketches / results; L2 moved"] = (
            accuracy(judge, s, y), accuracy(judge, out, y), (out - s).flatten(1).norm(dim=1).mean().item())
    return {**rows, **steps}


def bench_paint(model, judge, n):
    """How much the stroke changes versus the rest, and how far the painted feature rises there."""
    x, _ = test_images(n, seed=15, model=model)
    m = disc_masks(n, model.meta.input_size, seed=15)
    k = torch.randint(0, model.meta.num_features, (n,), generator=torch.Generator().manual_seed(15))
    out, steps = run(model, tasks.build(model, "paint", image=x, mask=m, feature=k.tolist()))
    change = (out - x).abs().mean(1, keepdim=True)
    region = objectives.feature(k, m)
    with torch.no_grad():
        before, after = (region(model.outputs(im.to(model.device))).cpu() for im in (x, out))
    return {"mean abs change inside / outside the stroke": (((change * m).sum() / m.sum()).item(),
                                                            ((change * (1 - m)).sum() / (1 - m).sum()).item()),
            "feature k in the stroke: before / after": (before.mean().item(), after.mean().item()), **steps}


BENCHES = {"generate": bench_generate, "inpaint": bench_inpaint, "superresolve": bench_superresolve,
           "translate": bench_translate, "sketch": bench_sketch, "paint": bench_paint}


def _cell(values) -> str:
    return " / ".join("n/a" if isinstance(v, float) and math.isnan(v) else f"{v:.3g}" if isinstance(v, float)
                      else str(v) for v in values)


def main(argv=None):
    ap = bench_parser(__doc__, judge=REQUIRED, device="cpu")
    ap.add_argument("--seeds", help="seed distribution file (default: the model's)")
    ap.add_argument("--compare", help="a non-robust model to run the same tasks with (card settings)")
    ap.add_argument("--n", type=int, default=20, help="images per task (generation: per class)")
    ap.add_argument("--only", nargs="*", choices=sorted(BENCHES))
    ap.add_argument("--methods", nargs="*", default=["paper", "card"], choices=["paper", "before", "card"])
    ap.add_argument("--before-model", help="weights for the 'before' method (default: --model's)")
    args = ap.parse_args(argv)
    robust = load(args.model, args.seeds, threads=args.threads, device=args.device)
    judge = load(args.judge, device=args.device)
    if "paper" in args.methods and robust.meta.id not in PAPER:
        ap.error(f"no paper settings recorded for {robust.meta.id!r}: use --methods card")
    if "before" in args.methods and robust.meta.id not in BEFORE:
        ap.error(f"no earlier card recorded for {robust.meta.id!r}: drop 'before' from --methods")
    before = load(args.before_model, device=args.device) if args.before_model else robust
    settings = {"paper": PAPER.get(robust.meta.id), "before": BEFORE.get(robust.meta.id), "card": None}
    runs = [(m, before if m == "before" else robust, settings[m]) for m in args.methods]
    if args.compare:
        other = load(args.compare, device=args.device)
        other.seeds = robust.seeds
        runs.append(("non-robust, card", other, robust.meta.task_defaults))
    print(f"robust {robust.meta.id}, judge {args.judge}, n={args.n}, torch threads {torch.get_num_threads()}, "
          f"device {robust.device}, ROBUST_CANVAS_AMP={os.environ.get('ROBUST_CANVAS_AMP', 'auto')}")
    for task, fn in BENCHES.items():
        if args.only and task not in args.only:
            continue
        columns = []
        for label, model, defaults in runs:
            referee = robust if (model is not robust and args.compare == args.judge) else judge
            t = time.time()
            with card_defaults(model, defaults):
                columns.append(fn(model, referee, args.n))
            print(f"({task}, {label}: {time.time() - t:.0f}s)", flush=True)
        print(f"\n### {task}\n\n| | {' | '.join(label for label, _, _ in runs)} |\n|---{'|---' * len(runs)}|")
        for key in columns[0]:
            print(f"| {key} | {' | '.join(_cell(c[key]) for c in columns)} |", flush=True)


if __name__ == "__main__":
    main()
