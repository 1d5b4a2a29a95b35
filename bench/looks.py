"""Issue 20's levers against artifacts, each alone and combined, against today's settings, in one run
with the same seeds: generation's realism and sketch-to-image on harder sketches.

    python -m bench.looks generate --model imagenette-rn18w75-l2 --judge imagenette-standard --n 10
    python -m bench.looks sketch --model imagenette-rn18w75-l2 --judge imagenette-standard --n 40

generate: n samples per class (seed 0), judged by the non-robust twin: its accuracy, Fréchet
distance / precision / recall in its features against REAL_FOR_FID other real test images
(bench/realism.py), spread within a class (its features / pixels), colour saturation and
high-frequency energy (the mean squared difference between neighbouring pixels: grids and
checkerboards) beside real images', and seconds per sample. Float32 throughout (ROBUST_CANVAS_AMP=off
unless set): the precision rule's start-up micro-benchmark can pick bf16 on a busy machine, and
rows must differ only by their settings. sketch: judge accuracy on the results
from thresholded edge maps and from colour blobs of held-out photos (bench/common.py), and
seconds per sketch at batch 1. generate-time: seconds per sample at batch 1 and 8, the rows
alternating, best of 5 rounds (the first row is the baseline). `--config NAME` picks rows; `--set k=v`
adds one of your own.
"""
import json
import os
import time

import torch

from bench.common import REQUIRED, bench_parser, blob_sketch, crude_sketch, edge_sketch, load, test_images
from bench.quality import BEFORE, REAL_FOR_FID, accuracy, card_defaults
from bench.realism import features, frechet_distance, precision_recall, within_class_distance
from server.synthesis import tasks
from server.synthesis.tasks.registry import LOOKS_OFF

# Each row: settings over the card of the time (TODAY): the cards when issue 20 was filed.
TODAY = {model: {task: BEFORE[model][task] for task in ("generate", "sketch")} for model in BEFORE}
LEVERS = {
    "today": {},
    "jitter": {"jitter": 8.0},
    "jitter+flip": {"jitter": 8.0, "flip": "on"},
    "colour": {"basis": "colour"},
    "fourier": {"basis": "fourier"},
    "bn_prior": {"bn_prior": 0.05},
    "langevin": {"noise": 0.5},
}
SKETCH_KINDS = {"edges": edge_sketch, "blobs": blob_sketch, "blocks": crude_sketch,
                "thin": lambda x: edge_sketch(x, keep=0.05, thick=False)}


def parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        k, v = item.split("=", 1)
        try:
            out[k] = float(v) if k != "steps" and k != "patience" else int(v)
        except ValueError:
            out[k] = v
    return out


def saturation(x: torch.Tensor) -> float:
    """Mean HSV saturation, (max - min) / max over the channels."""
    hi, lo = x.max(1).values, x.min(1).values
    return ((hi - lo) / hi.clamp_min(1e-6)).mean().item()


def high_frequency(x: torch.Tensor) -> float:
    """Mean squared difference between horizontally and vertically neighbouring pixels."""
    return (((x[..., 1:, :] - x[..., :-1, :]) ** 2).mean() + ((x[..., :, 1:] - x[..., :, :-1]) ** 2).mean()).item() / 2


def bench_generate(model, judge, n: int, rows: dict) -> None:
    classes = list(range(model.meta.num_classes))
    y = torch.tensor(classes).repeat_interleave(n)
    pool = features(judge, test_images(REAL_FOR_FID, seed=20, model=model)[0])
    real, y_real = test_images(2000, seed=10, model=model)
    real = torch.cat([real[y_real == c][:n] for c in classes])
    f = features(judge, real)
    print(json.dumps({"row": "real test images", "n": len(real), "judge": accuracy(judge, real, y),
                      "fid": frechet_distance(f, pool), "pr": precision_recall(f, pool),
                      "spread": (within_class_distance(f, y), within_class_distance(real.flatten(1), y)),
                      "saturation": saturation(real), "hf": high_frequency(real)}), flush=True)
    for name, settings in rows.items():
        t = time.perf_counter()
        out = tasks.run(model, "generate", class_=classes, n=n, seed=0, **settings)
        seconds = (time.perf_counter() - t) / len(y)
        x = out.images
        f = features(judge, x)
        print(json.dumps({"row": name, "settings": settings, "n": len(x), "judge": accuracy(judge, x, y),
                          "fid": frechet_distance(f, pool), "pr": precision_recall(f, pool),
                          "spread": (within_class_distance(f, y), within_class_distance(x.flatten(1), y)),
                          "saturation": saturation(x), "hf": high_frequency(x), "s_per_sample": seconds,
                          "steps": out.recipe.settings["steps"]}), flush=True)


def bench_generate_time(model, rows: dict, batches: tuple[int, ...] = (1, 8), rounds: int = 5) -> None:
    """Seconds per sample of each row at each batch size: rows alternate within a round (so a change in
    the machine's load hits every row alike), best round; a warm-up round first."""
    for b in batches:
        classes = [i % model.meta.num_classes for i in range(b)]
        best = {name: float("inf") for name in rows}
        for r in range(rounds + 1):
            for name, settings in rows.items():
                t = time.perf_counter()
                tasks.run(model, "generate", class_=classes, n=1, seed=r, **settings)
                if r:
                    best[name] = min(best[name], (time.perf_counter() - t) / b)
        base = next(iter(best.values()))
        for name, seconds in best.items():
            print(json.dumps({"row": name, "batch": b, "s_per_sample": seconds, "vs_first_row": seconds / base,
                              "settings": rows[name]}), flush=True)


def bench_sketch(model, judge, n: int, rows: dict, kinds: list[str]) -> None:
    x, y = test_images(n, seed=14, model=model)
    sketches = {kind: SKETCH_KINDS[kind](x) for kind in kinds}
    print(json.dumps({"row": "sketches", "n": n, **{k: accuracy(judge, s, y) for k, s in sketches.items()},
                      "originals": accuracy(judge, x, y)}), flush=True)
    for name, settings in rows.items():
        result = {"row": name, "settings": settings, "n": n}
        for kind, s in sketches.items():
            out = tasks.run(model, "sketch", image=s, class_=y.tolist(), **settings)
            result[kind] = accuracy(judge, out.images, y)
        one = sketches[kinds[0]][:1]
        best = float("inf")
        for _ in range(3):   # batch 1, what a person at the canvas waits for: best of 3
            t = time.perf_counter()
            tasks.run(model, "sketch", image=one, class_=int(y[0]), **settings)
            best = min(best, time.perf_counter() - t)
        result["s_batch1"] = best
        print(json.dumps(result), flush=True)


def main(argv=None):
    ap = bench_parser(__doc__, model=REQUIRED, judge=REQUIRED)
    ap.add_argument("task", choices=["generate", "sketch", "generate-time"])
    ap.add_argument("--n", type=int, default=10, help="samples per class (generate) or sketches (sketch)")
    ap.add_argument("--config", nargs="*", default=list(LEVERS), help=f"rows: {', '.join(LEVERS)}, card")
    ap.add_argument("--set", nargs="*", action="append", default=[], help="one more row: k=v ...")
    ap.add_argument("--kinds", nargs="*", default=["edges", "blobs"], choices=sorted(SKETCH_KINDS))
    args = ap.parse_args(argv)
    # float32 whatever the start-up micro-benchmark says on a busy machine: rows must be comparable
    os.environ.setdefault("ROBUST_CANVAS_AMP", "off")
    model, judge = load(args.model, threads=args.threads), load(args.judge)
    today = {**LOOKS_OFF, **TODAY[model.meta.id][args.task.removesuffix("-time")]}
    rows = {name: ({} if name == "card" else {**today, **LEVERS[name]}) for name in args.config}
    for items in args.set:
        extra = parse_set(items)
        rows[" ".join(items)] = {**today, **extra}
    print(json.dumps({"model": model.meta.id, "judge": judge.meta.id, "threads": torch.get_num_threads(),
                      "amp": os.environ["ROBUST_CANVAS_AMP"]}), flush=True)
    with card_defaults(model, None):
        if args.task == "generate":
            bench_generate(model, judge, args.n, rows)
        elif args.task == "generate-time":
            bench_generate_time(model, rows)
        else:
            bench_sketch(model, judge, args.n, rows, args.kinds)


if __name__ == "__main__":
    main()
