"""Do named features mean what they say? Paint each class's top named feature over the centre of
held-out test photos of other classes and measure how much the non-robust judge's probability of
that class rises; side by side with a random feature on the same photos, and with the feature of
the largest last-layer weight (the issue's first measurement).

    python -m bench.palette [--model ID] [--judge imagenette-standard] [--per-class 8]

Photos: random test images (fixed seed) whose label is not the class; the stroke: a centred square
of half the side; the card's paint settings. Needs the model's names (models/<id>.features.json).
"""
import time

import torch

from bench.common import bench_parser, load, test_images
from server.synthesis import tasks
from server.synthesis.features import top_feature


def centre_mask(n: int, size: int) -> torch.Tensor:
    m = torch.zeros(n, 1, size, size)
    m[:, :, size // 4:size - size // 4, size // 4:size - size // 4] = 1
    return m


@torch.no_grad()
def probability(judge, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    p = judge(x.to(judge.device)).softmax(1).cpu()
    return p[torch.arange(len(x)), classes]


def photos_of_others(model, per_class: int, seed: int = 0):
    """Per class c: `per_class` test photos whose label is not c, (C*per_class,3,S,S), and the classes."""
    x, y = test_images(4000, seed=seed, model=model)
    images, wanted = [], []
    for c in range(model.meta.num_classes):
        idx = (y != c).nonzero()[:, 0][c * per_class:(c + 1) * per_class]   # disjoint photos per class
        images.append(x[idx])
        wanted += [c] * len(idx)
    return torch.cat(images), torch.tensor(wanted)


def rise(model, judge, x, classes, features, batch: int = 40) -> torch.Tensor:
    """Judge's probability of `classes` after painting `features` in the centre, minus before."""
    after = []
    for a in range(0, len(x), batch):
        xb = x[a:a + batch]
        out = tasks.run(model, "paint", image=xb, mask=centre_mask(len(xb), model.meta.input_size),
                        feature=features[a:a + batch].tolist())
        after.append(out.images)
    return probability(judge, torch.cat(after), classes) - probability(judge, x, classes)


def main(argv=None):
    ap = bench_parser(__doc__, model="imagenette-rn18w75-l2", judge="imagenette-standard")
    ap.add_argument("--per-class", dest="per_class", type=int, default=8)
    args = ap.parse_args(argv)
    model, judge = load(args.model, threads=args.threads), load(args.judge)
    if model.feature_names is None:
        ap.error(f"{model.meta.id} has no feature names: run `robust-canvas features name` first")
    x, classes = photos_of_others(model, args.per_class)
    named = torch.tensor([top_feature(model, c) for c in classes.tolist()])
    weight = model.backbone.classifier().weight.detach().cpu().argmax(1)[classes]
    rand = torch.randint(0, model.meta.num_features, (len(x),), generator=torch.Generator().manual_seed(1))
    started = time.time()
    results = {label: rise(model, judge, x, classes, k) for label, k in
               (("top named", named), ("largest weight", weight), ("random", rand))}
    names = model.feature_names
    print(f"model {model.meta.id}, judge {judge.meta.id}, {args.per_class} photos of other classes per class, "
          f"centre square, card paint settings; {time.time() - started:.0f} s\n")
    print("| class | top named feature | rise: top named | largest weight | random |\n|---|---|---|---|---|")
    for c, cname in enumerate(model.meta.classes):
        sel = classes == c
        k = int(named[sel][0])
        print(f"| {cname} | {names.features[k].name} ({k}) | "
              + " | ".join(f"{float(r[sel].mean()):+.3f}" for r in results.values()) + " |")
    means = {label: float(r.mean()) for label, r in results.items()}
    print("| **mean** | | " + " | ".join(f"**{m:+.3f}**" for m in means.values()) + " |")
    ratio = means["top named"] / max(means["random"], 1e-9)
    ok = means["top named"] >= 0.2 and (means["random"] <= 0 or ratio >= 3)
    print(f"\ntop named vs random: {means['top named']:+.3f} vs {means['random']:+.3f}"
          f" ({'random ≤ 0' if means['random'] <= 0 else f'{ratio:.1f}x'}); goal ≥ +0.2 and ≥ 3x: "
          f"{'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
