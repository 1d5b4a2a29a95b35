"""What a task run writes, here or through --server: a progress bar, the result files, one line per result.

Results are written as PNG or JPEG by the suffix of --out. PNGs carry the recipe (`robust-canvas
rerun` reproduces them); JPEGs cannot.
"""
import io
import math
from contextlib import contextmanager
from pathlib import Path

from PIL import Image
from tqdm import tqdm

OUT_SUFFIXES = {".png", ".jpg", ".jpeg"}


def check_out(out: str) -> Path:
    p = Path(out)
    if p.suffix.lower() not in OUT_SUFFIXES:
        raise ValueError(f"--out must end in one of {sorted(OUT_SUFFIXES)}, got {out!r}")
    return p


def write_results(pngs: list[bytes], out: str) -> list[Path]:
    """One file per image: `out` itself for one image, else out-0.png, out-1.png, ..."""
    p = check_out(out)
    paths = [p] if len(pngs) == 1 else [p.with_name(f"{p.stem}-{i}{p.suffix}") for i in range(len(pngs))]
    for png, path in zip(pngs, paths):
        write_result(png, path)
    return paths


def write_result(png: bytes, path: Path) -> None:
    """The PNG as it is (recipe included), or its pixels as a JPEG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".png":
        path.write_bytes(png)
    else:
        Image.open(io.BytesIO(png)).convert("RGB").save(path)


def report(paths, class_names, scores, notes=None) -> None:
    """One `path<TAB>class<TAB>score` line per result (a server sends no score where it is not finite),
    then a `path: note` line for each result the task says something about (inpaint: no class)."""
    for path, name, score in zip(paths, class_names, scores):
        print(f"{path}\t{name}\t{math.nan if score is None else score:.4f}")
    for path, note in zip(paths, notes or []):
        if note:
            print(f"{path}: {note}")


@contextmanager
def progress_bar(task: str):
    """Yields `update(step, total)`; the bar is silent when stderr is not a terminal."""
    bar = tqdm(desc=task, unit="step", leave=False, disable=None)

    def update(step: int, total: int) -> None:
        bar.total = total
        bar.n = step
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
