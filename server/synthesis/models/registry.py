"""Where downloaded checkpoints and caches live."""
import os
from pathlib import Path


def cache_dir() -> Path:
    base = os.environ.get("ROBUST_CANVAS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "robust-canvas")
    return Path(base)
