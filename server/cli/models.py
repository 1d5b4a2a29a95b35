"""`robust-canvas models list|pull|delete`: the shipped models, a person's own, and the registry of
published checkpoints."""
import sys
from pathlib import Path

from ..synthesis.models import registry
from ..synthesis.models.loading import local_model_ids, models_dir, own_model_ids, own_models_dir
from ..synthesis.models.meta import ModelMeta
from ..synthesis.own_models import delete_own_model

COLUMNS = ("name", "status", "dataset", "norm", "eps", "accuracy (clean / robust)")


def format_eps(norm: str | None, eps: float) -> str:
    if not norm:
        return "-"
    if norm == "linf" and eps:
        return f"{eps * 255:.3g}/255"
    return f"{eps:g}"


def format_accuracy(accuracy: dict) -> str:
    clean = accuracy.get("clean")
    robust = (accuracy.get("robust") or {}).get("acc")
    parts = [f"{v:.1%}" if isinstance(v, (int, float)) else "-" for v in (clean, robust)]
    return "-" if parts == ["-", "-"] else " / ".join(parts)


def model_rows(data_dir: Path | None = None) -> list[tuple[str, ...]]:
    """One row per shipped model, one per own model (in the data dir), then one per registry entry."""
    rows = []
    cards = [(i, "shipped", models_dir() / f"{i}.json") for i in local_model_ids()]
    cards += [(i, "yours", own_models_dir(data_dir) / i / f"{i}.json") for i in own_model_ids(data_dir)]
    for model_id, status, card in cards:
        meta = ModelMeta.load(card)
        rows.append((model_id, status, meta.dataset, meta.norm or "-", format_eps(meta.norm, meta.eps),
                     format_accuracy(meta.accuracy)))
    for name in registry.list_models():
        e = registry.get(name)
        status = "pulled" if registry.find_pulled(name) else "available"
        rows.append((name, status, e.dataset, e.norm or "-", format_eps(e.norm, e.eps), format_accuracy(e.accuracy)))
    return rows


def format_table(rows: list[tuple[str, ...]]) -> str:
    table = [COLUMNS, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table)


def cmd_list(args) -> int:
    print(format_table(model_rows(args.data_dir)))
    return 0


def cmd_delete(args) -> int:
    if args.name in local_model_ids():
        print(f"robust-canvas: error: {args.name!r} is a shipped model; only your own can be deleted", file=sys.stderr)
        return 2
    try:
        delete_own_model(args.name, args.data_dir)
    except LookupError as e:
        print(f"robust-canvas: error: {e.args[0]}", file=sys.stderr)
        return 2
    print(f"deleted {args.name}")
    return 0


def cmd_pull(args) -> int:
    entry = registry.get(args.name)
    try:
        path = registry.pull(args.name, progress=not args.quiet, url=args.url)
    except ConnectionError as e:
        print(f"robust-canvas: error: {e}", file=sys.stderr)
        return 1
    if entry.sha256 is None:
        print(f"note: no checksum is published for {args.name}; the download was not verified", file=sys.stderr)
    print(path)
    return 0


def add_models_parser(sub) -> None:
    p = sub.add_parser("models", help="list the shipped and published models, or download one")
    models_sub = p.add_subparsers(dest="models_command", required=True)
    ls = models_sub.add_parser("list", help="shipped models, your own and the registry: status, dataset, threat model")
    ls.add_argument("--data-dir", dest="data_dir", type=Path, metavar="DIR",
                    help="where your own models are (also ROBUST_CANVAS_DATA_DIR; default $XDG_DATA_HOME/robust-canvas)")
    ls.set_defaults(func=cmd_list)
    delete = models_sub.add_parser("delete", help="delete a model of your own (made with `train FOLDER --init BASE`)")
    delete.add_argument("name")
    delete.add_argument("--data-dir", dest="data_dir", type=Path, metavar="DIR")
    delete.set_defaults(func=cmd_delete)
    pull = models_sub.add_parser("pull", help="download a published checkpoint into the cache")
    pull.add_argument("name", help="a registry name (see `robust-canvas models list`)")
    pull.add_argument("--url", help="download from this URL instead of the registry's")
    pull.add_argument("--quiet", action="store_true", help="no progress bar")
    pull.set_defaults(func=cmd_pull)
