"""`robust-canvas features name|list`: readable names and photo swatches for a model's features.

    robust-canvas features name MODEL DATA_DIR     # after training, for a pulled checkpoint, ...
    robust-canvas features list MODEL --class church

`name` runs the model once over DATA_DIR/train/<class>/... (or DATA_DIR/<class>/...), computes the
synthetic swatches, and writes <stem>.features.json and <stem>.features.webp beside the weights
(or under the cache dir when that folder is not writable); the model loads them from then on.
"""
import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import torch

from ..synthesis.data import list_image_folder, load_image_folder
from ..synthesis.features.describe import Activations, activations, describe_features, swatch_sheet
from ..synthesis.features.names import cached_names_path, fingerprint, matches, names_path, normalize, searchable
from ..synthesis.models.loading import load_model, resolve_model_path
from ..synthesis.palette import feature_palette
from ..synthesis.paths import cache_dir


def cmd_name(args) -> int:
    started = time.monotonic()
    model = load_model(args.model, device=args.device).for_serving()
    root = Path(args.data_dir) / args.split if (Path(args.data_dir) / args.split).is_dir() else Path(args.data_dir)
    paths, _, _ = list_image_folder(root)
    data = load_image_folder(root, model.meta.input_size, cache_dir() / "datasets")
    files = [f"{p.parent.name}/{p.name}" for p in paths]
    if args.limit and args.limit < len(data):
        keep = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:args.limit].sort().values
        data.images, data.labels, files = data.images[keep], data.labels[keep], [files[i] for i in keep.tolist()]
    names, crops = describe_features(model, data, files, top=args.top, acts=_activations(model, data, files))
    names.source.update({"data": root.name if root.name != args.split else f"{Path(args.data_dir).name}/{args.split}"})
    swatches = None if args.no_swatches else feature_palette(model)
    names.source["swatches"] = swatches is not None
    sheet = swatch_sheet(names, swatches, crops, args.tile or min(56, model.meta.input_size))
    out = Path(args.out) if args.out else names_path(resolve_model_path(args.model))
    if not args.out and not os.access(out.parent, os.W_OK):
        out = cached_names_path(model.meta.id)
    names.save(out, sheet)
    sizes = {p.name: p.stat().st_size for p in (out, names.sheet)}
    print(json.dumps({"names": str(out), "sheet": str(names.sheet), "bytes": sizes, "features": len(names.features),
                      "images": len(data), "labels": names.source["labels"],
                      "seconds": round(time.monotonic() - started, 1)}))
    for c in model.meta.classes:
        k = names.top(c)
        if k is not None:
            print(f"{c}: top feature {k} = {names.features[k].name}")
    return 0


def _activations(model, data, files):
    """The one pass over the images, cached: naming again (other words, another tile) costs seconds."""
    key = hashlib.sha1("|".join([fingerprint(model), str(tuple(data.images.shape)), *files]).encode()).hexdigest()
    path = cache_dir() / "features" / f"{model.meta.id}-{key[:16]}.activations.pt"
    if path.exists():
        return Activations(**torch.load(path, weights_only=True))
    acts = activations(model, data, progress=_progress("activations"))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dataclasses.asdict(acts), path)
    return acts


def _progress(what: str):
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] > 5 or done == total:
            last[0] = now
            print(f"{what}: {done}/{total}", file=sys.stderr, flush=True)
    return report


def cmd_list(args) -> int:
    model = load_model(args.model, device="cpu")
    names = model.feature_names
    if names is None:
        raise ValueError(f"model {model.meta.id!r} has no feature names: run `robust-canvas features name "
                         f"{args.model or model.meta.id} DATA_DIR`")
    def drive(f):  # for --class: strongest first, as the API's ?class= lists them
        return -max((c["drive"] for c in f.classes if normalize(c["class"]) == normalize(args.class_)), default=0)
    for f in sorted(names.features, key=drive) if args.class_ else names.features:
        if args.class_ and normalize(args.class_) not in {normalize(c["class"]) for c in f.classes}:
            continue
        if args.q and not matches(searchable(f), args.q):
            continue
        linked = ", ".join(f"{c['class']} {c['weight']:+.3f}" for c in f.classes)
        print(f"{f.index}\t{f.name}\t{linked}")
    return 0


def add_features_parser(sub) -> None:
    p = sub.add_parser("features", help="name a model's features from its training images, or list the names")
    fs = p.add_subparsers(dest="features_command", required=True)
    n = fs.add_parser("name", help="write <model>.features.json and .webp: names, linked classes, photo swatches")
    n.add_argument("model", help="a model id, a registry name or a weights file")
    n.add_argument("data_dir", help="image folder: DATA_DIR/<split>/<class>/... or DATA_DIR/<class>/...; "
                                    "classes other than the model's are labelled by the model's predictions")
    n.add_argument("--split", default="train")
    n.add_argument("--top", type=int, default=3, help="photo crops per feature in the sheet")
    n.add_argument("--tile", type=int, help="side of each swatch in the sheet, pixels (default: 56, or the "
                                             "model's input size if smaller)")
    n.add_argument("--limit", type=int, help="use a fixed random subset of this many images")
    n.add_argument("--no-swatches", dest="no_swatches", action="store_true",
                   help="skip the synthetic swatches (their tiles stay gray)")
    n.add_argument("--out", help="the JSON to write (default: beside the weights)")
    n.add_argument("--device")
    n.set_defaults(func=cmd_name)
    ls = fs.add_parser("list", help="print index, name and linked classes of a model's features")
    ls.add_argument("model", nargs="?", help="default: the default model")
    ls.add_argument("--class", dest="class_", help="only features linked to this class")
    ls.add_argument("-q", dest="q", help="only features whose name or words contain these words")
    ls.set_defaults(func=cmd_list)
