"""`robust-canvas` command line: training, evaluation, models, the tasks and the server."""
import argparse
import json
import shlex
import sys
from dataclasses import fields
from pathlib import Path

from .synthesis.training import TrainConfig


def _cache_dir() -> Path:
    from .synthesis.models.registry import cache_dir
    return cache_dir() / "datasets"


def cmd_train(args) -> int:
    from .synthesis.training import train
    known = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in known and v is not None})
    cfg.command = "robust-canvas " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    train(cfg, resume=args.resume, cache_dir=_cache_dir())
    return 0


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="adversarially train a classifier on DATA_DIR/{train,test}/<class>/...")
    p.add_argument("data_dir")
    p.add_argument("--out-dir", dest="out_dir")
    p.add_argument("--model-id", dest="model_id")
    p.add_argument("--depth", type=int, choices=[18, 34, 50])
    p.add_argument("--width", type=float, help="channel width multiplier (1.0 = standard ResNet)")
    p.add_argument("--input-size", dest="input_size", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", dest="batch_size", type=int, help="per process")
    p.add_argument("--lr", type=float, help="peak learning rate for a total batch of 128")
    p.add_argument("--weight-decay", dest="weight_decay", type=float)
    p.add_argument("--norm", choices=["l2", "linf"])
    p.add_argument("--eps", type=float, help="attack radius in [0,1] pixel units; 0 = standard training")
    p.add_argument("--attack-steps", dest="attack_steps", type=int)
    p.add_argument("--attack-step-size", dest="attack_step_size", type=float)
    p.add_argument("--eval-eps", dest="eval_eps", type=float)
    p.add_argument("--eval-steps", dest="eval_steps", type=int)
    p.add_argument("--no-amp", dest="amp", action="store_false", default=None, help="train in float32")
    p.add_argument("--seed", type=int)
    p.add_argument("--max-train-images", dest="max_train_images", type=int)
    p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoint.pt")
    p.set_defaults(func=cmd_train)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="robust-canvas", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"robust-canvas: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
