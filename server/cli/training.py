"""`robust-canvas train|eval|fit-seeds`: a robust classifier from an image folder, its accuracy, its seeds."""
import json
import logging
import shlex
import sys
import time
from dataclasses import fields
from pathlib import Path

from tqdm import tqdm

from ..synthesis.data import AUGMENTATIONS, load_image_folder
from ..synthesis.folders import read_photo_folders
from ..synthesis.own_models import fine_tune_config, make_own_model, new_model_id
from ..synthesis.models.loading import load_model, resolve_model_path
from ..synthesis.paths import cache_dir
from ..synthesis.models.resnet import ARCHITECTURES
from ..synthesis.seeds import fit_seeds, seeds_path
from ..synthesis.training import TrainConfig, TrainProgress, evaluate, train


def add_training_parsers(sub) -> None:
    add_train_parser(sub)
    add_eval_parser(sub)
    add_fit_seeds_parser(sub)


def _datasets_dir() -> Path:
    return cache_dir() / "datasets"


def cmd_train(args) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)  # the per-epoch log
    # --resume continues the same run to the same result: the command that reproduces it omits it.
    command = "robust-canvas " + " ".join(shlex.quote(a) for a in args.argv if a != "--resume")
    try:
        if args.init and not args.out_dir:
            return _train_own_model(args, command)
        known = {f.name for f in fields(TrainConfig)}
        cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in known and v is not None})
        cfg.command = command
        train(cfg, resume=args.resume)
    except KeyboardInterrupt:
        print("\ninterrupted: the checkpoint of the last full epoch is kept; the same command with --resume "
              "continues from it", file=sys.stderr)
        return 130
    return 0


# The settings a person may give a fine-tune; the rest comes from the base model (own_models.py).
FINE_TUNE_FLAGS = ("epochs", "batch_size", "lr", "weight_decay", "norm", "eps", "attack_steps", "attack_step_size",
                   "eval_eps", "eval_steps", "amp", "seed", "max_train_images", "holdout", "augment")


def _train_own_model(args, command: str) -> int:
    """`train FOLDER --init BASE`: a whole model of the folder's classes in the data dir, ready to serve."""
    started = time.monotonic()
    model_id = new_model_id(args.model_id or Path(args.data_dir).resolve().name, args.store_dir, resuming=args.resume)
    given = {k: getattr(args, k) for k in FINE_TUNE_FLAGS}
    cfg = fine_tune_config(Path(args.data_dir), model_id, base=args.init, data_dir=args.store_dir, **given)
    cfg.command = command
    folders = read_photo_folders(Path(args.data_dir), cfg.input_size, holdout=cfg.holdout, seed=cfg.seed or 0)
    if folders.skipped:
        print(folders.skipped_line(), file=sys.stderr)
    print(", ".join(f"{c}: {n} photos" for c, n in folders.counts.items())
          + f"; {len(folders.train)} to learn from, {len(folders.test)} held out")
    logging.getLogger("server.synthesis.training").setLevel(logging.WARNING)   # the bar says it all
    with tqdm(total=cfg.epochs, unit="step", dynamic_ncols=True, file=sys.stderr) as bar:
        own = make_own_model(cfg, args.store_dir, folders=folders, resume=args.resume,
                             progress=lambda p: _show(bar, p), stage=lambda name: bar.set_description(name))
    acc = own.meta.accuracy
    apgd = acc.get("attacks", {}).get("apgd_ce", {}).get("acc")
    print(f"model {own.id}: held-out clean {acc['clean']:.1%}, PGD-{acc['robust']['steps']} {acc['robust']['acc']:.1%}"
          + (f", APGD-CE {apgd:.1%}" if apgd is not None else "")
          + f" ({acc['images']} photos, {acc['robust']['norm']} eps {acc['robust']['eps']:g}); "
          f"made in {time.monotonic() - started:.0f} s")
    print(f"saved in {own.weights.parent}; `robust-canvas serve` serves it, the tasks take --model {own.id}")
    return 0


def _show(bar: tqdm, p: TrainProgress) -> None:
    bar.total = p.steps
    bar.n = p.step
    bar.set_description(f"epoch {p.epoch}/{p.epochs}")
    held = "-" if p.heldout_acc is None else f"{p.heldout_acc:.1%}"
    bar.set_postfix_str(f"loss {p.loss:.3f}, held-out {held}, left {_minutes(p.left_s)}", refresh=False)
    bar.refresh()


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="adversarially train a classifier on a folder of photos, one folder per class",
                       description="DATA_DIR/<class>/... (any image files, any depth; a share of each class is "
                       "held out) or DATA_DIR/{train,test}/<class>/.... With --init and no --out-dir: a model of "
                       "your own, fine-tuned from that base model and saved whole (card, seeds, feature names) "
                       "in the data dir's models/, where `serve`, the tasks and `models list` find it.")
    p.add_argument("data_dir")
    p.add_argument("--out-dir", dest="out_dir", help="write the weights and card here (no --init: default runs/model)")
    p.add_argument("--data-dir", dest="store_dir", type=Path, metavar="DIR",
                   help="with --init: the data dir whose models/ gets the model (also ROBUST_CANVAS_DATA_DIR; "
                        "default $XDG_DATA_HOME/robust-canvas)")
    p.add_argument("--model-id", dest="model_id", help="with --init: default the folder's name")
    p.add_argument("--arch", choices=list(ARCHITECTURES),
                   help="cifar_resnet: 3x3 stem, for 32-px images (default); imagenet_resnet: 7x7 stride-2 stem "
                        "and max-pool, torchvision's layout, for photographs at 128-224 px")
    p.add_argument("--depth", type=int, choices=[18, 34, 50])
    p.add_argument("--width", type=float, help="channel width multiplier (1.0 = standard ResNet)")
    p.add_argument("--input-size", dest="input_size", type=int)
    p.add_argument("--augment", choices=list(AUGMENTATIONS),
                   help="crop: shift and flip (default for cifar_resnet); resized_crop: random-resized crop "
                        "and flip (default for imagenet_resnet)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", dest="batch_size", type=int, help="per process")
    p.add_argument("--lr", type=float, help="peak learning rate for a total batch of 128")
    p.add_argument("--weight-decay", dest="weight_decay", type=float)
    p.add_argument("--norm", choices=["l2", "linf"])
    p.add_argument("--eps", type=float, help="attack radius in [0,1] pixel units; 0 = standard training")
    p.add_argument("--attack-steps", dest="attack_steps", type=int)
    p.add_argument("--attack-step-size", dest="attack_step_size", type=float, help="default 2.5 * eps / attack steps")
    p.add_argument("--eval-eps", dest="eval_eps", type=float)
    p.add_argument("--eval-steps", dest="eval_steps", type=int)
    p.add_argument("--no-amp", dest="amp", action="store_false", default=None,
                   help="train in float32 (default: bf16 where it pays)")
    p.add_argument("--seed", type=int)
    p.add_argument("--max-train-images", dest="max_train_images", type=int)
    p.add_argument("--holdout", type=float, help="share of each class held out when DATA_DIR has no train/ and test/ "
                   "(default 0.2)")
    p.add_argument("--init", help="start from this model (an id or a file of the same network): other classes get "
                   "a new head (a fine-tune of its robust features, e.g. --init imagenette-rn18w75-l2); the same "
                   "classes fine-tune it or, with --out-dir, lengthen a finished run with a second cycle")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last epoch's checkpoint")
    p.set_defaults(func=cmd_train)


def cmd_eval(args) -> int:
    model = load_model(args.model, device=args.device)
    data = _data_for(model, args.data_dir, args.split)
    norm = args.norm or model.meta.norm or "l2"
    eps = args.eps if args.eps is not None else (model.meta.eps or 0.5)
    result = evaluate(model, data, norm=norm, eps=eps, steps=args.steps, batch_size=args.batch_size,
                      amp=args.amp, limit=args.limit, progress=True)
    print(json.dumps({"model": model.meta.id, "split": args.split, **result}, indent=2))
    return 0


def cmd_fit_seeds(args) -> int:
    model = load_model(args.model, device="cpu")
    data = _data_for(model, args.data_dir, "train")
    seeds = fit_seeds(data, resolution=args.resolution, ridge=args.ridge)
    out = Path(args.out) if args.out else seeds_path(resolve_model_path(args.model))
    seeds.save(out)
    print(json.dumps({"seeds": str(out), "classes": len(data.classes), "resolution": args.resolution,
                      "images": len(data)}))
    return 0


def _data_for(model, data_dir: str, split: str):
    """The split's images at the model's input size; its classes must be the model's."""
    data = load_image_folder(Path(data_dir) / split, model.meta.input_size, _datasets_dir())
    if data.classes != list(model.meta.classes):
        raise ValueError(f"{data_dir}/{split} has classes {data.classes[:5]}... but model {model.meta.id!r} "
                         f"has {list(model.meta.classes)[:5]}...: the folders must be the model's classes")
    return data


def add_eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="clean and PGD-robust accuracy of MODEL on DATA_DIR/<split>, as JSON")
    p.add_argument("model", help="a model id, a registry name or a weights file")
    p.add_argument("data_dir")
    p.add_argument("--split", default="test")
    p.add_argument("--norm", choices=["l2", "linf"], help="default: the norm the model was trained with")
    p.add_argument("--eps", type=float, help="attack radius in [0,1] pixel units; default: the model's")
    p.add_argument("--steps", type=int, default=20, help="PGD steps (step size 2.5*eps/steps, random start)")
    p.add_argument("--limit", type=int, help="evaluate on a fixed random subset of this many images")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=250)
    p.add_argument("--no-amp", dest="amp", action="store_false", default=None,
                   help="run the attack in float32 (default: bf16 where it pays)")
    p.add_argument("--device")
    p.set_defaults(func=cmd_eval)


def add_fit_seeds_parser(sub) -> None:
    p = sub.add_parser("fit-seeds", help="fit the class-conditional seed Gaussians for generation")
    p.add_argument("model", help="a model id, a registry name or a weights file")
    p.add_argument("data_dir", help="image folder with DATA_DIR/train/<class>/...")
    p.add_argument("--resolution", type=int, default=16, help="side of the images the Gaussians model")
    p.add_argument("--ridge", type=float, default=1e-3, help="added to each covariance's diagonal")
    p.add_argument("--out", help="default: <weights stem>.seeds.safetensors beside the model's weights")
    p.set_defaults(func=cmd_fit_seeds)

