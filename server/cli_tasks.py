"""`robust-canvas generate|translate|inpaint|superresolve|sketch|paint`: the tasks on image files.

Images and masks are read with PIL (any format it knows; masks as grayscale, white = the region)
and results written as PNG or JPEG by the suffix of --out. Errors are ValueError / FileNotFoundError,
which `robust-canvas` prints as `robust-canvas: error: ...`.
"""
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

OUT_SUFFIXES = {".png", ".jpg", ".jpeg"}


def read_image(path: str, mode: str = "RGB") -> torch.Tensor:
    """(3,H,W) for RGB or (H,W) for a mask ('L'), float in [0,1]."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such image file: {path}")
    try:
        with Image.open(p) as im:
            array = np.asarray(im.convert(mode), dtype=np.float32) / 255
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None
    t = torch.from_numpy(array.copy())
    return t.permute(2, 0, 1) if mode == "RGB" else t


def check_out(out: str) -> Path:
    p = Path(out)
    if p.suffix.lower() not in OUT_SUFFIXES:
        raise ValueError(f"--out must end in one of {sorted(OUT_SUFFIXES)}, got {out!r}")
    return p


def write_images(images: torch.Tensor, out: str) -> list[Path]:
    """One file per image: `out` itself for one image, else out-0.png, out-1.png, ..."""
    p = check_out(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    paths = [p] if len(images) == 1 else [p.with_name(f"{p.stem}-{i}{p.suffix}") for i in range(len(images))]
    for im, path in zip(images, paths):
        array = (im.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(array).save(path)
    return paths


def _progress_bar(task: str):
    bar = tqdm(desc=task, unit="step", leave=False, disable=None)  # silent when stderr is not a terminal

    def callback(progress) -> None:
        bar.total = progress.total
        bar.n = progress.step
        bar.refresh()

    return bar, callback


def cmd_task(args) -> int:
    from .synthesis import tasks
    from .synthesis.models.loading import load_model
    check_out(args.out)  # before any work
    model = load_model(args.model)
    problem = _build(args, model)
    bar, callback = _progress_bar(args.command)
    try:
        out = tasks.finish(model, problem, tasks.solve(model, problem, callback))
    finally:
        bar.close()
    for path, name, score in zip(write_images(out.images, args.out), out.class_names, out.scores):
        print(f"{path}\t{name}\t{score:.4f}")
    return 0


def _build(args, model):
    from .synthesis import tasks
    settings = {"steps": args.steps, "step_size": args.step_size, "eps": args.eps, "seed": args.seed}
    if args.command == "generate":
        return tasks.generate_problem(model, args.class_, args.n, **settings)
    if args.command in ("translate", "sketch"):
        build = tasks.translate_problem if args.command == "translate" else tasks.sketch_problem
        return build(model, read_image(args.image), args.class_, **settings)
    if args.command == "inpaint":
        return tasks.inpaint_problem(model, read_image(args.image), read_image(args.mask, "L"), args.class_,
                                     weight=args.weight, **settings)
    if args.command == "superresolve":
        return tasks.superresolve_problem(model, read_image(args.image), args.factor, args.class_, **settings)
    strokes = [(args.mask, args.feature)] + [(m, _feature(f)) for m, f in args.stroke or []]
    return tasks.paint_problem(model, read_image(args.image), [read_image(m, "L") for m, _ in strokes],
                               [f for _, f in strokes], feature_weight=args.feature_weight,
                               penalty_weight=args.penalty_weight, **settings)


def _feature(text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError(f"a feature is a component index, got {text!r}")
    return int(text)


def _common(p, out: str) -> None:
    p.add_argument("--model", help="shipped model id, weights file or pulled name (default: the default model)")
    p.add_argument("--steps", type=int, help="optimizer steps (default: the model card's)")
    p.add_argument("--step-size", dest="step_size", type=float)
    p.add_argument("--eps", type=float, help="L2 radius around the start, in [0,1] pixel units")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=out, help=f"PNG or JPEG to write (default: {out})")
    p.set_defaults(func=cmd_task)


def add_task_parsers(sub) -> None:
    p = sub.add_parser("generate", help="sample images of a class")
    p.add_argument("class_", metavar="CLASS", help="class name or index")
    p.add_argument("-n", "--n", type=int, default=1, help="how many samples (files out-0.png, ...)")
    _common(p, "generated.png")
    for name, what in [("translate", "an image into another class"), ("sketch", "a drawing into a photo of a class")]:
        p = sub.add_parser(name, help=f"turn {what}")
        p.add_argument("image")
        p.add_argument("class_", metavar="CLASS", help="target class name or index")
        _common(p, f"{name}d.png" if name == "translate" else "sketch-result.png")
    p = sub.add_parser("inpaint", help="fill the white region of MASK")
    p.add_argument("image")
    p.add_argument("mask", help="grayscale image of the same size, white = missing")
    p.add_argument("--class", dest="class_", help="class to fill in (default: the model's guess)")
    p.add_argument("--weight", type=float, help="weight of the penalty on colour jumps at the hole's border")
    _common(p, "inpainted.png")
    p = sub.add_parser("superresolve", help="upsample an image by FACTOR")
    p.add_argument("image")
    p.add_argument("--factor", type=int, default=4)
    p.add_argument("--class", dest="class_", help="class to enhance (default: the model's guess)")
    _common(p, "superresolved.png")
    p = sub.add_parser("paint", help="paint representation FEATURE into the white region of MASK")
    p.add_argument("image")
    p.add_argument("mask", help="grayscale image of the same size, white = brushed")
    p.add_argument("feature", type=_feature, help="representation component index")
    p.add_argument("--stroke", nargs=2, action="append", metavar=("MASK", "FEATURE"), help="another stroke")
    p.add_argument("--feature-weight", dest="feature_weight", type=float)
    p.add_argument("--penalty-weight", dest="penalty_weight", type=float)
    _common(p, "painted.png")
