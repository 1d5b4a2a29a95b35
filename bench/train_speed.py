"""Training speed: images/s of `robust-canvas train`'s epoch loop on its default recipe (CIFAR-10,
ResNet-18 at half width, batch 128, L2 eps 0.5, one attack step), before and after issue 10.

    python -m bench.train_speed [--data ../shared/data/cifar10] [--batches 8] [--rounds 2] [--threads 2] [--device cuda]

Each setting trains its own copy of the model on the same `--batches` batches per round
(`training._train_epoch`, the loop `train` runs), settings alternating so that contention from
other work cancels in the ratios; the best round counts.
- before: bf16 autocast (the old default `amp=True`), the attack on the plain model;
- fp32, plain: float32, the attack on the plain model;
- as shipped: `amp` chosen by the precision rule, the attack on the folded fast path.
"""
import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from bench.common import DATA_ROOT
from server.synthesis import training
from server.synthesis.data import load_image_folder
from server.synthesis.paths import cache_dir
from server.synthesis.models.robust_model import RobustModel
from server.synthesis.precision import use_bf16

SETTINGS = {"before (bf16, plain attack)": (True, False), "fp32, plain attack": (False, False),
            "as shipped": (None, True)}


def images_per_s(cfg, data, amp, fast: bool, batches: int, device: torch.device) -> float:
    d = training.Dist(device=device)
    cfg = replace(cfg, amp=use_bf16(d.device, cfg.batch_size) if amp is None else amp)
    torch.manual_seed(0)
    model = training.build_model(cfg, data.classes).to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=cfg.momentum, nesterov=True,
                          weight_decay=cfg.weight_decay)
    RobustModel.fast_path = fast
    try:
        model.train()
        start = time.perf_counter()
        training._train_epoch(cfg, model, model, opt, data, 0, d, batches)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return batches * cfg.batch_size / (time.perf_counter() - start)
    finally:
        RobustModel.fast_path = True


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DATA_ROOT / "cifar10"))
    p.add_argument("--batches", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = training.TrainConfig(data_dir=args.data).resolved()   # the CLI's defaults
    data = load_image_folder(Path(args.data) / "train", cfg.input_size, cache_dir() / "datasets")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cfg.arch} depth {cfg.depth} width "
          f"{cfg.width}, {cfg.input_size} px, batch {cfg.batch_size}, {cfg.norm} eps {cfg.eps}, "
          f"{cfg.attack_steps} attack step(s), {args.batches} batches x {args.rounds} rounds; "
          f"on {device}; the rule picks bf16: {use_bf16(device, cfg.batch_size)}")
    best = {name: 0.0 for name in SETTINGS}
    for _ in range(args.rounds):
        for name, (amp, fast) in SETTINGS.items():
            best[name] = max(best[name], images_per_s(cfg, data, amp, fast, args.batches, device))
    before = best["before (bf16, plain attack)"]
    print("| setting | images/s | vs before |\n|---|---|---|")
    for name, value in best.items():
        print(f"| {name} | {value:.1f} | {value / before:.2f}x |")


if __name__ == "__main__":
    main()
