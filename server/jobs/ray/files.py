"""Files that travel through Ray's object store, so that no node needs another's disk: a folder as
{relative path: bytes} (`read_folder`, `write_folder`), a model's files (`model_files`), and a model
loaded where its card's file is not (`loadable`).

A training on the cluster gets its photos and its base model this way and hands back the finished
model's folder (ray/training.py); the job store hands a model made at run time to each model worker
and palette task the same way (ray/store.py, ray/worker.py, ray/manager.py).
"""
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

Files = dict[str, bytes]   # a relative path (with '/') -> the file's bytes


def read_folder(folder: Path) -> Files:
    """Every file under `folder`, by its path relative to it."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_folder(files: Files, folder: Path) -> Path:
    """The files written under `folder` (created); a path leaving it is refused (ValueError)."""
    root = folder.resolve()
    for name, data in files.items():
        path = (root / name).resolve()
        if root not in path.parents:
            raise ValueError(f"{name!r} is not a path inside the folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def model_files(weights: Path) -> Files:
    """A model's files, by name: its weights and the files beside them that `load_model` reads (the
    card, seeds, feature names and their sheet: `<stem>.*`)."""
    stem = weights.name.removesuffix(".safetensors") if weights.suffix == ".safetensors" else weights.name
    beside = [p for p in weights.parent.glob(f"{stem}.*") if p.is_file()] if weights.suffix == ".safetensors" else []
    return {p.name: p.read_bytes() for p in sorted({weights, *beside})}


@contextmanager
def loadable(source: str, fetch: Callable[[], Files] | None):
    """What `load_model` takes for a model: `source` itself where that file is on this node (or where
    no files travel with it, `fetch` None: a shipped model, a registry name), else a copy of the files
    `fetch` gives, in a temporary folder removed on leaving (a model loads whole into memory; its
    palette reads its sheet while inside)."""
    if fetch is None or os.path.exists(source):
        yield source
        return
    folder = Path(tempfile.mkdtemp(prefix="robust-canvas-model-"))
    try:
        write_folder(fetch(), folder)
        yield str(folder / Path(source).name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
