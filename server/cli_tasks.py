"""`robust-canvas generate|translate|inpaint|superresolve|sketch|paint`: the tasks on image files.

Images and masks are read with PIL (any format it knows; masks as grayscale, white = the region)
and results written as PNG or JPEG by the suffix of --out. Errors are ValueError / FileNotFoundError,
which `robust-canvas` prints as `robust-canvas: error: ...`.
"""
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

OUT_SUFFIXES = {".png", ".jpg", ".jpeg"}
FILE_MODES = {"image": "RGB", "mask": "L"}   # registry kinds given as files, and how they are read


def open_image(path: str, mode: str = "RGB") -> Image.Image:
    """The file as a PIL image in `mode`; FileNotFoundError / ValueError say what is wrong."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such image file: {path}")
    try:
        with Image.open(p) as im:
            return im.convert(mode)
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None


def read_image(path: str, mode: str = "RGB") -> torch.Tensor:
    """(3,H,W) for RGB or (H,W) for a mask ('L'), float in [0,1]."""
    t = torch.from_numpy(np.asarray(open_image(path, mode), dtype=np.float32) / 255)
    return t.permute(2, 0, 1) if mode == "RGB" else t


def task_inputs(spec, args, read) -> dict:
    """The registry fields' values from the CLI arguments (Field -> value): files through
    `read(path, mode)`, extra `--stroke`s appended to their fields as lists."""
    values = {f: _read(f, getattr(args, f.arg), read) for f in spec.fields}
    for f, more in zip(stroke_fields(spec), zip(*(getattr(args, "stroke", None) or []))):
        values[f] = [values[f], *(_read(f, _parse(f, v), read) for v in more)]
    return values


def stroke_fields(spec) -> list:
    """The fields one `--stroke` gives one more of (paint: a mask and a feature)."""
    return [f for f in spec.inputs if f.many and f.kind in ("mask", "feature")]


def check_out(out: str) -> Path:
    p = Path(out)
    if p.suffix.lower() not in OUT_SUFFIXES:
        raise ValueError(f"--out must end in one of {sorted(OUT_SUFFIXES)}, got {out!r}")
    return p


def write_images(images: torch.Tensor, out: str, recipe=None, index: int | None = None) -> list[Path]:
    """One file per image: `out` itself for one image, else out-0.png, out-1.png, ...

    PNGs carry the recipe (`robust-canvas rerun` reproduces them); JPEGs cannot. `index`: write
    only that image of the batch, to `out`.
    """
    from .synthesis.recipes import png_bytes
    p = check_out(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    indices = range(len(images)) if index is None else [index]
    paths = [p] if index is not None else _numbered(p, len(images))
    for i, path in zip(indices, paths):
        if path.suffix.lower() == ".png":
            path.write_bytes(png_bytes(images[i], recipe, i))
        else:
            array = (images[i].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            Image.fromarray(array).save(path)
    return paths


def _numbered(p: Path, n: int) -> list[Path]:
    return [p] if n == 1 else [p.with_name(f"{p.stem}-{i}{p.suffix}") for i in range(n)]


def _progress_bar(task: str):
    bar = tqdm(desc=task, unit="step", leave=False, disable=None)  # silent when stderr is not a terminal

    def callback(progress) -> None:
        bar.total = progress.total
        bar.n = progress.step
        bar.refresh()

    return bar, callback


def _solve(model, problem, task: str):
    from .synthesis import tasks
    bar, callback = _progress_bar(task)
    try:
        return tasks.finish(model, problem, tasks.solve(model, problem, callback))
    finally:
        bar.close()


def _report(paths, result, indices) -> None:
    for path, i in zip(paths, indices):
        print(f"{path}\t{result.class_names[i]}\t{result.scores[i]:.4f}")


def cmd_task(args) -> int:
    from .synthesis import tasks
    from .synthesis.models.loading import load_model
    check_out(args.out)  # before any work
    spec = tasks.spec(args.command)
    if args.server:
        return _remote_task(spec, args)
    given = {f.arg: value for f, value in task_inputs(spec, args, read_image).items()}
    model = load_model(args.model)
    result = _solve(model, tasks.build(model, args.command, **given), args.command)
    _report(write_images(result.images, args.out, result.recipe), result, range(len(result.images)))
    if "feature" in result.recipe.inputs:
        print("painted: " + painted(model, result.recipe.inputs["feature"]))
    return 0


def painted(model, feature) -> str:
    """'church · grey vertical stripes (feature 17)', for each stroke's feature index."""
    names = model.feature_names
    return ", ".join(f"{names.features[k].name} (feature {k})" if names else f"feature {k}"
                     for k in (feature if isinstance(feature, list) else [feature]))


def _remote_task(spec, args) -> int:
    """The task on a server: its PNGs are written as it made them (recipe included)."""
    from .cli_remote import request_body, run_remote
    bar, callback = _progress_bar(args.command)
    try:
        job = run_remote(args.server, args.token, args.command, request_body(spec, args),
                         lambda step, total: callback(SimpleNamespace(step=step, total=total)))
    finally:
        bar.close()
    paths = _numbered(check_out(args.out), len(job.result["images"]))
    for path, png, name, score in zip(paths, job.pngs(), job.result["class_names"], job.result["scores"]):
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".png":
            path.write_bytes(png)
        else:
            Image.open(io.BytesIO(png)).convert("RGB").save(path)
        print(f"{path}\t{name}\t{float('nan') if score is None else score:.4f}")
    return 0


def cmd_rerun(args) -> int:
    """Rerun a PNG's recipe and say whether the pixels came out the same."""
    from .synthesis import tasks
    from .synthesis.models.loading import load_model
    from .synthesis.recipes import read_png_recipe
    source = Path(args.image)
    if not source.is_file():
        raise FileNotFoundError(f"no such image file: {args.image}")
    recipe, index = read_png_recipe(source.read_bytes())
    out = args.out or str(source.with_name(f"{source.stem}-rerun.png"))
    check_out(out)
    model = load_model(args.model or recipe.model)
    result = _solve(model, tasks.rebuild(model, recipe), recipe.task)
    if index >= len(result.images):
        raise ValueError(f"the recipe makes {len(result.images)} images but this is image {index}")
    _report(write_images(result.images, out, result.recipe, index), result, [index])
    before, after = read_image(str(source)), _as_8bit(result.images[index])
    if before.shape == after.shape and torch.equal(before, after):
        print(f"identical: {source} reproduced bit for bit ({recipe.task}, {recipe.model}, seed {recipe.seed})")
        return 0
    differ = "sizes differ" if before.shape != after.shape else \
        f"{int((before != after).any(0).sum())} pixels differ, by at most {(before - after).abs().max() * 255:.0f}/255"
    print(f"different: {differ} (another device or torch version?)")
    return 1


def _as_8bit(image: torch.Tensor) -> torch.Tensor:
    return (image.clamp(0, 1) * 255).round() / 255


def _read(f, value, read):
    return read(value, FILE_MODES[f.kind]) if value is not None and f.kind in FILE_MODES else value


def _parse(f, text: str):
    return _feature(text) if f.kind == "feature" else text


def _feature(text: str) -> int | str:
    """An index, or a feature or class name (the model resolves it: `features.names.resolve_feature`)."""
    return int(text) if text.strip().isdigit() else text.strip()


# ---- parsers, from the registry ----------------------------------------------------------------

_CLI_TYPES = {"int": int, "float": float, "feature": _feature}
_METAVARS = {"image": "IMAGE", "mask": "MASK", "class": "CLASS", "feature": "FEATURE"}


def add_task_parsers(sub) -> None:
    from .synthesis.tasks import TASKS
    for spec in TASKS.values():
        p = sub.add_parser(spec.id, help=spec.summary, description=f"{spec.summary}; the result: {spec.result}.")
        for f in spec.fields:
            _add_field(p, spec, f)
        many = stroke_fields(spec)
        if many:
            p.add_argument("--stroke", nargs=len(many), action="append", metavar=tuple(_METAVARS[f.kind] for f in many),
                           help="another " + " and ".join(f.name for f in many) + " (repeatable)")
        p.add_argument("--model", help="shipped model id, weights file or pulled name (default: the default model)")
        p.add_argument("--out", default=f"{spec.id}.png", help=f"PNG or JPEG to write (default: {spec.id}.png)")
        p.add_argument("--server", metavar="URL", help="run the task on this Robust Canvas server instead of here")
        p.add_argument("--token", help="the server's bearer token (with --server)")
        p.set_defaults(func=cmd_task)
    p = sub.add_parser("rerun", help="make a robust-canvas PNG again from its recipe, and compare the pixels")
    p.add_argument("image", help="a PNG written by robust-canvas (CLI, API or canvas)")
    p.add_argument("--model", help="where to load the recipe's model from (default: its id)")
    p.add_argument("--out", help="where to write the rerun (default: IMAGE-rerun.png)")
    p.set_defaults(func=cmd_rerun)


def _add_field(p, spec, f) -> None:
    from .synthesis.tasks import SETTINGS
    help_text = f.help
    if f.name in SETTINGS:
        help_text += " (default: the model card's" + (", scaled with the result's size)" if f.name in spec.scaled else ")")
    elif f.default is not None:
        help_text += f" (default: {f.default})"
    kind = _CLI_TYPES.get(f.kind)
    if f.required:
        nargs = "+" if f.many and f.kind == "class" else None
        p.add_argument(f.arg, metavar=_METAVARS.get(f.kind, f.name.upper()), type=kind, nargs=nargs, help=help_text)
    else:
        flags = [f"--{f.name.replace('_', '-')}"] + (["-n"] if f.name == "n" else [])
        p.add_argument(*flags, dest=f.arg, type=kind, default=f.default, choices=f.choices or None, help=help_text)
