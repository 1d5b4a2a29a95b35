"""`robust-canvas <task>` and `robust-canvas rerun`: the tasks on image files.

One sub-command per entry of the task registry (generate, translate, inpaint, ...), its arguments
derived from the entry's fields. The task runs here, or on a server with --server (`remote`).
"""
import os

import torch

from ..synthesis import tasks
from ..synthesis.models.loading import load_model
from ..synthesis.recipes import png_bytes, read_png_recipe
from . import remote
from .inputs import existing_file, feature_index, read_image, stroke_fields, task_inputs
from .outputs import check_out, progress_bar, report, write_result, write_results


def cmd_task(args) -> int:
    check_out(args.out)  # before any work
    spec = tasks.spec(args.command)
    if args.server:
        return remote.run_task(spec, args)
    given = {f.arg: value for f, value in task_inputs(spec, args, read_image).items()}
    model = load_model(args.model)
    result = _solve(model, tasks.build(model, args.command, **given), args.command)
    pngs = [png_bytes(image, result.recipe, i) for i, image in enumerate(result.images)]
    report(write_results(pngs, args.out), result.class_names, result.scores, result.notes)
    if "feature" in result.recipe.inputs:
        print("painted: " + painted(model, result.recipe.inputs["feature"]))
    return 0


def painted(model, feature) -> str:
    """'church · grey vertical stripes (feature 17)', for each stroke's feature index."""
    names = model.feature_names
    return ", ".join(f"{names.features[k].name} (feature {k})" if names else f"feature {k}"
                     for k in (feature if isinstance(feature, list) else [feature]))


def cmd_rerun(args) -> int:
    """Rerun a PNG's recipe and say whether the pixels came out the same."""
    source = existing_file(args.image)
    recipe, index = read_png_recipe(source.read_bytes())
    out = check_out(args.out or str(source.with_name(f"{source.stem}-rerun.png")))
    model = load_model(args.model or recipe.model)
    result = _solve(model, tasks.rebuild(model, recipe), recipe.task)
    if index >= len(result.images):
        raise ValueError(f"the recipe makes {len(result.images)} images but this is image {index}")
    write_result(png_bytes(result.images[index], result.recipe, index), out)
    report([out], [result.class_names[index]], [result.scores[index]], result.notes and [result.notes[index]])
    before, after = read_image(str(source)), _as_8bit(result.images[index])
    if before.shape == after.shape and torch.equal(before, after):
        print(f"identical: {source} reproduced bit for bit ({recipe.task}, {recipe.model}, seed {recipe.seed})")
        return 0
    differ = "sizes differ" if before.shape != after.shape else \
        f"{int((before != after).any(0).sum())} pixels differ, by at most {(before - after).abs().max() * 255:.0f}/255"
    print(f"different: {differ} (another device or torch version?)")
    return 1


def _solve(model, problem, task: str):
    with progress_bar(task) as update:
        return tasks.finish(model, problem, tasks.solve(model, problem, lambda p: update(p.step, p.total)))


def _as_8bit(image: torch.Tensor) -> torch.Tensor:
    """The pixels a PNG of `image` holds, to compare with the PNG read back."""
    return (image.clamp(0, 1) * 255).round() / 255


# ---- parsers, from the registry ----------------------------------------------------------------

_CLI_TYPES = {"int": int, "float": float, "feature": feature_index}
_METAVARS = {"image": "IMAGE", "mask": "MASK", "class": "CLASS", "feature": "FEATURE"}


def add_task_parsers(sub) -> None:
    for spec in tasks.TASKS.values():
        _add_task_parser(sub, spec)
    p = sub.add_parser("rerun", help="make a robust-canvas PNG again from its recipe, and compare the pixels")
    p.add_argument("image", help="a PNG written by robust-canvas (CLI, API or canvas)")
    p.add_argument("--model", help="where to load the recipe's model from (default: its id)")
    p.add_argument("--out", help="where to write the rerun (default: IMAGE-rerun.png)")
    p.set_defaults(func=cmd_rerun)


def _add_task_parser(sub, spec) -> None:
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
    p.add_argument("--token", default=os.environ.get("ROBUST_CANVAS_TOKEN"),
                   help="your token on the server (with --server; default $ROBUST_CANVAS_TOKEN)")
    p.set_defaults(func=cmd_task)


def _add_field(p, spec, f) -> None:
    help_text = f.help
    if f.name in tasks.SETTINGS:
        help_text += " (default: the model card's" + (", scaled with the result's size)" if f.name in spec.scale_with_result else ")")
    elif f.default is not None:
        help_text += f" (default: {f.default})"
    kind = _CLI_TYPES.get(f.kind)
    if f.required:
        nargs = "+" if f.many and f.kind == "class" else None
        p.add_argument(f.arg, metavar=_METAVARS.get(f.kind, f.name.upper()), type=kind, nargs=nargs, help=help_text)
    else:
        flags = [f"--{f.name.replace('_', '-')}"] + (["-n"] if f.name == "n" else [])
        p.add_argument(*flags, dest=f.arg, type=kind, default=f.default, choices=f.choices or None, help=help_text)
