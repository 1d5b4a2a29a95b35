"""A person's photo folders, read for training: `read_photo_folders(root, size)`.

Two layouts: `root/<class>/...` (any depth below the class folder, no split: a stratified, seeded
share of each class is held out), or today's `root/{train,test}/<class>/...`. Every file is tried
as an image whatever its name; what cannot be decoded (not an image, truncated, over the pixel
limit) is skipped and counted, never fatal. What would make a useless model is refused before
anything runs (`FolderError`): one class, a class with too few photos, two folders whose names
clean to the same class name.
"""
import hashlib
import io
import os
import re
import unicodedata
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .data import TensorDataset

MIN_PER_CLASS = 5            # photos a class needs: one held out, the rest to learn from
HOLDOUT = 0.2                # share of each class held out when the folders have no split
MAX_PIXELS = 64_000_000      # larger images are skipped as decompression bombs (a 64-MP photo passes)
NAME_LENGTH = 48


class FolderError(ValueError):
    """The folders cannot make a model (the CLI's exit 2, the API's 422)."""


def clean_class_name(name: str) -> str:
    """A folder or typed name as a class name: letters, digits, '_' and '-' only, lower case.

    The result never holds a path separator or a dot, so it is safe as a file name; '' when
    nothing is left (the caller refuses it).
    """
    text = unicodedata.normalize("NFKC", name).strip().lower()
    text = re.sub(r"[^\w-]+", "_", text)        # \w: letters of any script, digits, '_'
    return text.strip("_-")[:NAME_LENGTH].strip("_-")


@dataclass
class Skipped:
    file: str       # relative to the root
    reason: str


@dataclass
class PhotoFolders:
    """The decoded photos, split, with what was skipped and a fingerprint of the data."""
    train: TensorDataset
    test: TensorDataset
    train_files: list[str]          # relative to the root, in `train`'s order
    test_files: list[str]
    skipped: list[Skipped]
    files: int                      # every file looked at, skipped ones included
    sha256: str                     # of the used files' relative paths and bytes, in order
    layout: str                     # "classes" (held out here) or "split" (train/ and test/ given)
    counts: dict[str, int] = field(default_factory=dict)   # photos per class, both splits

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    def skipped_line(self, shown: int = 3) -> str:
        """'skipped 3 of 812 files: a.txt (not an image), ...', or '' when none was."""
        if not self.skipped:
            return ""
        listed = ", ".join(f"{s.file} ({s.reason})" for s in self.skipped[:shown])
        more = f", and {len(self.skipped) - shown} more" if len(self.skipped) > shown else ""
        return f"skipped {len(self.skipped)} of {self.files} files: {listed}{more}"


def read_photo_folders(root: Path, size: int, *, holdout: float = HOLDOUT, seed: int = 0,
                       min_per_class: int = MIN_PER_CLASS, max_pixels: int = MAX_PIXELS) -> PhotoFolders:
    """Every photo under `root` decoded at `size`x`size`, split into train and held-out test."""
    root = Path(root)
    if not root.is_dir():
        raise FolderError(f"no folder at {root}")
    split = (root / "train").is_dir() and (root / "test").is_dir()
    groups = {s: _class_folders(root / s) for s in ("train", "test")} if split else {"all": _class_folders(root)}
    names = _check_classes(root, groups)
    decoded = {s: _decode_all(root, g, size, max_pixels) for s, g in groups.items()}
    skipped = [s for d in decoded.values() for s in d.skipped]
    files = sum(d.looked_at for d in decoded.values())
    if split:
        train, test = decoded["train"], decoded["test"]
    else:
        train, test = decoded["all"].split(holdout, seed)
    counts = _check_counts(names, train, test, min_per_class, skipped, files)
    return PhotoFolders(train=train.dataset(names), test=test.dataset(names), train_files=train.files,
                        test_files=test.files, skipped=skipped, files=files,
                        sha256=_fingerprint(train, test), layout="split" if split else "classes", counts=counts)


def _class_folders(root: Path) -> dict[str, Path]:
    """Cleaned class name -> folder, sorted by name; FolderError on a collision or an empty name."""
    if not root.is_dir():
        raise FolderError(f"no folder at {root}")
    found: dict[str, Path] = {}
    for folder in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        name = clean_class_name(folder.name)
        if not name:
            raise FolderError(f"{folder}: the folder's name has no letter or digit to name a class by")
        if name in found:
            raise FolderError(f"the folders {found[name].name!r} and {folder.name!r} both make the class "
                              f"name {name!r}: rename one")
        found[name] = folder
    return dict(sorted(found.items()))


def _check_classes(root: Path, groups: dict[str, dict[str, Path]]) -> list[str]:
    names = [list(g) for g in groups.values()]
    if any(n != names[0] for n in names):
        raise FolderError(f"{root}/train and {root}/test have different class folders: {names[0]} and {names[1]}")
    if len(names[0]) < 2:
        raise FolderError(f"{root} has {len(names[0])} class folder{'s' if len(names[0]) != 1 else ''} "
                          f"({', '.join(names[0]) or 'none'}): a model tells classes apart, so it needs "
                          "at least 2, one folder of photos per class")
    return names[0]


@dataclass
class _Decoded:
    images: list[np.ndarray]
    labels: list[int]
    files: list[str]
    digests: list[bytes]
    skipped: list[Skipped]
    looked_at: int

    def take(self, keep: list[int]) -> "_Decoded":
        return _Decoded([self.images[i] for i in keep], [self.labels[i] for i in keep], [self.files[i] for i in keep],
                        [self.digests[i] for i in keep], [], 0)

    def split(self, holdout: float, seed: int) -> tuple["_Decoded", "_Decoded"]:
        """Stratified: per class, a seeded random `holdout` share (at least one photo) is held out."""
        gen = torch.Generator().manual_seed(seed)
        labels = torch.tensor(self.labels, dtype=torch.long)
        train, test = [], []
        for c in labels.unique().tolist():
            members = (labels == c).nonzero().flatten()
            members = members[torch.randperm(len(members), generator=gen)].tolist()
            k = max(1, round(holdout * len(members))) if len(members) > 1 else 0
            test += members[:k]
            train += members[k:]
        return self.take(sorted(train)), self.take(sorted(test))

    def dataset(self, classes: list[str]) -> TensorDataset:
        size = self.images[0].shape[-1] if self.images else 0
        images = torch.from_numpy(np.stack(self.images)) if self.images else torch.zeros(0, 3, size, size,
                                                                                          dtype=torch.uint8)
        return TensorDataset(images, torch.tensor(self.labels, dtype=torch.long), list(classes))


def _decode_all(root: Path, classes: dict[str, Path], size: int, max_pixels: int) -> _Decoded:
    jobs = [(label, path) for label, folder in enumerate(classes.values()) for path in _files_under(folder)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        outcomes = list(pool.map(lambda job: _decode_photo(job[1], size, max_pixels), jobs))
    out = _Decoded([], [], [], [], [], len(jobs))
    for (label, path), (array, digest, reason) in zip(jobs, outcomes):
        relative = path.relative_to(root).as_posix()
        if reason:
            out.skipped.append(Skipped(relative, reason))
            continue
        out.images.append(array)
        out.labels.append(label)
        out.files.append(relative)
        out.digests.append(digest)
    return out


def _files_under(folder: Path) -> list[Path]:
    """Every regular file below `folder`, hidden ones (.DS_Store, ._x) left out, in a stable order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".")
                                                                          for part in p.relative_to(folder).parts))


class UnreadablePhoto(ValueError):
    """Why a file cannot be used as a photo; `over_limit`: it has more pixels than allowed."""

    def __init__(self, reason: str, over_limit: bool = False):
        super().__init__(reason)
        self.over_limit = over_limit


@contextmanager
def opened_photo(data: bytes, max_pixels: int):
    """Pillow's image of `data`, its size checked from the header before any decoding; UnreadablePhoto
    (over the pixel limit, a decompression bomb, not an image, broken) when it, or decoding it in the
    `with` body, fails. The folder reader and the server's uploads judge photos alike through it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > max_pixels:
                    raise UnreadablePhoto(f"over {max_pixels:,} pixels ({im.width}x{im.height})", over_limit=True)
                yield im
    except UnreadablePhoto:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnreadablePhoto("a decompression bomb") from None
    except Image.UnidentifiedImageError:
        raise UnreadablePhoto("not an image") from None
    except (OSError, ValueError, SyntaxError) as e:   # truncated or corrupt data
        raise UnreadablePhoto(f"broken image: {e}") from None


def _decode_photo(path: Path, size: int, max_pixels: int) -> tuple[np.ndarray | None, bytes, str | None]:
    """(3,size,size) uint8 RGB (upright by its EXIF orientation, squashed to a square as the base
    model's training photos were), the file's digest, and None; or a reason it was skipped."""
    try:
        data = path.read_bytes()
    except OSError as e:
        return None, b"", f"unreadable: {e.strerror or e}"
    digest = hashlib.sha256(data).digest()
    try:
        with opened_photo(data, max_pixels) as im:
            im.draft("RGB", (2 * size, 2 * size))   # JPEG: decode at a fraction of a large photo's size
            im = ImageOps.exif_transpose(im).convert("RGB").resize((size, size), Image.BICUBIC)
            return np.asarray(im).transpose(2, 0, 1).copy(), digest, None
    except UnreadablePhoto as e:
        return None, digest, str(e)


def _check_counts(names: list[str], train: _Decoded, test: _Decoded, min_per_class: int,
                  skipped: list[Skipped], files: int) -> dict[str, int]:
    counts = {n: train.labels.count(i) + test.labels.count(i) for i, n in enumerate(names)}
    few = {n: k for n, k in counts.items() if k < min_per_class or test.labels.count(names.index(n)) == 0}
    if few:
        listed = ", ".join(f"{n} ({k})" for n, k in few.items())
        note = f" ({len(skipped)} of {files} files could not be read as images)" if skipped else ""
        raise FolderError(f"too few photos in {listed}: each class needs at least {min_per_class}, "
                          f"and at least one held out{note}")
    return counts


def _fingerprint(train: _Decoded, test: _Decoded) -> str:
    h = hashlib.sha256()
    for name, digest in sorted(zip(train.files + test.files, train.digests + test.digests)):
        h.update(name.encode() + b"\0" + digest)
    return h.hexdigest()
