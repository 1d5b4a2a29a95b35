"""Robust accuracy under a well-kept attack library, beside the project's own PGD, in one run.

    python -m bench.robustness imagenette-rn18w75-l2 --limit 1000 [--device cuda] [--data DIR]

Per model, on a fixed random subset of its test split (the same subset as `robust-canvas eval
--limit`): clean accuracy; the project's PGD-20 (random start, step 2.5*eps/20); torchattacks'
APGD-CE (L2, eps, 50 steps) and APGD-T (targeted DLR, 9 targets, 50 steps each), the white-box
members of AutoAttack; and the worst case per image over all attacks. Prints one JSON line per model.

torchattacks is a dependency (server/synthesis/attacks.py, whose APGD-CE the own models' cards
report); the shipped cards' figures were measured with 3.5.1, whose APGD is 3.3.0's.
"""
import argparse
import json
import time
from pathlib import Path

import torch

from server.synthesis.attacks import APGD_STEPS, apgd_ce
from server.synthesis.data import load_image_folder
from server.synthesis.training import Attack, adversarial

from .common import DATA_ROOT, load


def subset(data, limit: int | None) -> torch.Tensor:
    """`robust-canvas eval`'s fixed random subset (folders are sorted by class)."""
    n = min(len(data), limit or len(data))
    return torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:n]


def attacks(model, eps: float, names: list[str]):
    import torchattacks
    every = {
        "apgd_ce": lambda: apgd_ce(model, "l2", eps),   # the cards' attack, as own models' cards run it
        "apgd_t": lambda: torchattacks.APGDT(model, norm="L2", eps=eps, steps=APGD_STEPS,
                                             n_classes=len(model.meta.classes), seed=0),
    }
    return {name: every[name]() for name in names}


ATTACKS = ["apgd_ce", "apgd_t"]


@torch.no_grad()
def correct(model, x, y) -> torch.Tensor:
    return model(x).argmax(1) == y


def measure(model, data, indices, eps: float, batch: int, names: list[str] = ATTACKS) -> dict:
    """Per-attack accuracy and the per-image worst case over all attacks."""
    model.eval()
    runs = attacks(model, eps, names)
    hits = {"clean": [], "pgd20": [], **{name: [] for name in runs}}
    for start in range(0, len(indices), batch):
        idx = indices[start:start + batch]
        x = data.images[idx].to(model.device).float() / 255
        y = data.labels[idx].to(model.device)
        hits["clean"].append(correct(model, x, y))
        pgd20 = adversarial(model, x, y, Attack(norm="l2", eps=eps, steps=20), seed=start)
        hits["pgd20"].append(correct(model, pgd20, y))
        for name, attack in runs.items():
            hits[name].append(correct(model, attack(x, y), y))
    acc = {name: torch.cat(h) for name, h in hits.items()}
    acc["worst"] = torch.stack([acc[name] for name in acc if name != "clean"]).all(0)
    return {name: round(float(h.float().mean()), 4) for name, h in acc.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="shipped ids, weights files or training checkpoints")
    ap.add_argument("--data", help="dataset folder with test/<class>/...; default: the model's under ../shared/data")
    ap.add_argument("--eps", type=float, help="L2 radius; default: the model's training eps")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--attacks", nargs="+", choices=ATTACKS, default=ATTACKS,
                    help="APGD-T costs 9 times APGD-CE (one run per target class)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    for name in args.models:
        model = load(name, device=args.device)
        root = Path(args.data) if args.data else DATA_ROOT / ("cifar10" if model.meta.input_size == 32 else "imagenette")
        data = load_image_folder(root / "test", model.meta.input_size)
        eps = args.eps if args.eps is not None else model.meta.eps
        indices = subset(data, args.limit)
        start = time.perf_counter()
        acc = measure(model, data, indices, eps, args.batch, args.attacks)
        print(json.dumps({"model": model.meta.id, "images": len(indices), "eps": eps, **acc,
                          "seconds": round(time.perf_counter() - start, 1)}), flush=True)


if __name__ == "__main__":
    main()
