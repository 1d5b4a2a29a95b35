"""`robust-canvas models list|pull`: the shipped models and the registry of published checkpoints."""
import sys

from ..synthesis.models import registry
from ..synthesis.models.loading import local_model_ids, models_dir
from ..synthesis.models.meta import ModelMeta

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


def model_rows() -> list[tuple[str, ...]]:
    """One row per shipped model, then one per registry entry."""
    rows = []
    for model_id in local_model_ids():
        meta = ModelMeta.load(models_dir() / f"{model_id}.json")
        rows.append((model_id, "shipped", meta.dataset, meta.norm or "-", format_eps(meta.norm, meta.eps),
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
    print(format_table(model_rows()))
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
    ls = models_sub.add_parser("list", help="shipped models and the registry: status, dataset, threat model")
    ls.set_defaults(func=cmd_list)
    pull = models_sub.add_parser("pull", help="download a published checkpoint into the cache")
    pull.add_argument("name", help="a registry name (see `robust-canvas models list`)")
    pull.add_argument("--url", help="download from this URL instead of the registry's")
    pull.add_argument("--quiet", action="store_true", help="no progress bar")
    pull.set_defaults(func=cmd_pull)
