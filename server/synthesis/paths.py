"""Where the library keeps what it downloads and computes: `cache_dir()` (checkpoints, datasets, palettes)."""
import os
from pathlib import Path


def cache_dir() -> Path:
    """$ROBUST_CANVAS_CACHE, else $XDG_CACHE_HOME/robust-canvas (~/.cache/robust-canvas)."""
    base = os.environ.get("ROBUST_CANVAS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "robust-canvas")
    return Path(base)


def data_dir(environ=None) -> Path:
    """Where a person's own things live (results, uploads, own models): $ROBUST_CANVAS_DATA_DIR,
    else $XDG_DATA_HOME/robust-canvas, else ~/.local/share/robust-canvas."""
    environ = os.environ if environ is None else environ
    if environ.get("ROBUST_CANVAS_DATA_DIR"):
        return Path(environ["ROBUST_CANVAS_DATA_DIR"]).expanduser()
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "robust-canvas"
