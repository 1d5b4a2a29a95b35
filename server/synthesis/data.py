"""Image folders (`root/<split>/<class>/<image>`) decoded once into uint8 tensors.

Small-image datasets fit in memory (CIFAR-10: 150 MB), and batched tensor augmentation
is far cheaper than per-image PIL transforms on a two-core machine.
"""
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


@dataclass
class TensorDataset:
    images: torch.Tensor   # (N,3,S,S) uint8
    labels: torch.Tensor   # (N,) int64
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def list_image_folder(root: Path) -> tuple[list[Path], list[int], list[str]]:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no image folder at {root}")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    if not classes:
        raise ValueError(f"{root} has no class sub-folders")
    paths, labels = [], []
    for idx, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += files
        labels += [idx] * len(files)
    return paths, labels, classes


def _decode(path: Path, size: int) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.size != (size, size):
            im = im.resize((size, size), Image.BICUBIC)
        return np.asarray(im).transpose(2, 0, 1).copy()


def load_image_folder(root: Path, size: int, cache_dir: Path | None = None) -> TensorDataset:
    """Decode every image of `root` at `size`x`size`; cached by folder path, size and file list."""
    paths, labels, classes = list_image_folder(root)
    key = hashlib.sha1(f"{Path(root).resolve()}|{size}|{len(paths)}|{paths[-1] if paths else ''}".encode()).hexdigest()
    cache = Path(cache_dir) / f"{key[:16]}.pt" if cache_dir else None
    if cache and cache.exists():
        data = torch.load(cache, weights_only=True)
        return TensorDataset(data["images"], data["labels"], classes)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        arrays = list(pool.map(lambda p: _decode(p, size), paths))
    images = torch.from_numpy(np.stack(arrays)) if arrays else torch.zeros(0, 3, size, size, dtype=torch.uint8)
    ds = TensorDataset(images, torch.tensor(labels, dtype=torch.long), classes)
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"images": ds.images, "labels": ds.labels}, cache)
    return ds


def augment(images: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop with reflection padding and horizontal flip, on a float batch (N,3,H,W)."""
    n, _, h, w = images.shape
    padded = torch.nn.functional.pad(images, (pad,) * 4, mode="reflect")
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    out = _crop(padded, dy, dx, h, w)
    flip = torch.rand(n, generator=generator) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def _crop(padded: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return torch.stack([padded[i, :, y:y + h, x:x + w] for i, (y, x) in enumerate(zip(dy.tolist(), dx.tolist()))])
