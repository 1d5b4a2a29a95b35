"""Seconds per task at each shipped model's tuned defaults: one image (what a person at the canvas
waits for) and a batch of 16 (per image: what a busy server pays), every model in the same run.

    python -m bench.task_speed [--models ID ...] [--repeat 2] [--threads N]

Inputs are random test images of each model's dataset (CIFAR-10 if it is not at ../shared/data),
masks as in bench/quality.py. Each figure is the best of `--repeat` runs after a warm-up run.
"""
import argparse

import torch
import torch.nn.functional as F

from bench.common import disc_masks, load, square_masks, timed
from server.synthesis import tasks


def _inputs(model, n: int) -> dict:
    size = model.meta.input_size
    x = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))
    return {"x": x, "y": [i % model.meta.num_classes for i in range(n)],
            "hole": square_masks(n, size, seed=1), "stroke": disc_masks(n, size, seed=2)}


RUNS = {
    "generate": lambda m, i: tasks.run(m, "generate", class_=i["y"], n=1),  # one sample per listed class
    "translate": lambda m, i: tasks.run(m, "translate", image=i["x"], class_=i["y"]),
    "inpaint": lambda m, i: tasks.run(m, "inpaint", image=i["x"], mask=i["hole"]),
    "superresolve": lambda m, i: tasks.run(m, "superresolve", image=F.interpolate(i["x"], scale_factor=0.25, mode="area"), factor=4),
    "sketch": lambda m, i: tasks.run(m, "sketch", image=i["x"], class_=i["y"]),
    "paint": lambda m, i: tasks.run(m, "paint", image=i["x"], mask=i["stroke"], feature=list(range(len(i["y"])))),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=["cifar10-rn18h-l2", "imagenette-rn18w75-l2"])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int)
    args = ap.parse_args(argv)
    models = [load(m, threads=args.threads) for m in args.models]
    print(f"torch threads {torch.get_num_threads()}, best of {args.repeat} after a warm-up\n")
    print("| task | " + " | ".join(f"{m.meta.id} ({m.meta.input_size} px): steps, s at batch 1, "
                                     f"s/image at batch {args.batch}" for m in models) + " |")
    print("| --- |" + " --- |" * len(models))
    for task, run in RUNS.items():
        cells = []
        for m in models:
            one, many = _inputs(m, 1), _inputs(m, args.batch)
            t1 = timed(lambda: run(m, one), args.repeat)
            tb = timed(lambda: run(m, many), args.repeat)
            cells.append(f"{tasks.task_defaults(m, task)['steps']}, {t1:.2f} s, {tb / args.batch:.3f} s")
        print(f"| {task} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
