"""Where the library keeps what it downloads and computes: `cache_dir()` (checkpoints, datasets, palettes)."""
import os
from pathlib import Path


def cache_dir() -> Path:
    """$ROBUST_CANVAS_CACHE, else $XDG_CACHE_HOME/robust-canvas (~/.cache/robust-canvas)."""
    base = os.environ.get("ROBUST_CANVAS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "robust-canvas")
    return Path(base)
