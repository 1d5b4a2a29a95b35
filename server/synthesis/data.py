"""Image folders (`root/<split>/<class>/<image>`) decoded once into uint8 tensors.

Small-image datasets fit in memory (CIFAR-10: 150 MB), and batched tensor augmentation
is far cheaper than per-image PIL transforms on a two-core machine.
"""
import hashlib
import math
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


def decode_image(path: Path, size: int) -> np.ndarray:
    """(3,size,size) uint8: RGB, bicubic-resized when the file has another size."""
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
        arrays = list(pool.map(lambda p: decode_image(p, size), paths))
    images = torch.from_numpy(np.stack(arrays)) if arrays else torch.zeros(0, 3, size, size, dtype=torch.uint8)
    ds = TensorDataset(images, torch.tensor(labels, dtype=torch.long), classes)
    if cache:  # atomic: data-parallel ranks decode the same folder at once, and one may read it mid-write
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        torch.save({"images": ds.images, "labels": ds.labels}, tmp)
        tmp.replace(cache)
    return ds


def augment(images: torch.Tensor, generator: torch.Generator, kind: str = "crop") -> torch.Tensor:
    """A float batch (N,3,H,W) on any device, augmented with random numbers drawn from `generator` (CPU).

    'crop': shift by up to H/8 pixels (reflection padding) and flip, CIFAR's augmentation.
    'resized_crop': a random region of 35-100% of the area, aspect 3:4 to 4:3, resized back, and flip:
    photographs show objects at many scales and positions, and 10k of them are few.
    """
    if kind == "crop":
        return flip(pad_crop(images, generator, pad=max(1, images.shape[-1] // 8)), generator)
    if kind == "resized_crop":
        return resized_crop(images, generator)
    raise ValueError(f"unknown augmentation {kind!r} (known: {', '.join(AUGMENTATIONS)})")


def pad_crop(images: torch.Tensor, generator: torch.Generator, pad: int) -> torch.Tensor:
    n, _, h, w = images.shape
    padded = torch.nn.functional.pad(images, (pad,) * 4, mode="reflect")
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    return torch.stack([padded[i, :, y:y + h, x:x + w] for i, (y, x) in enumerate(zip(dy.tolist(), dx.tolist()))])


def flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    mask = (torch.rand(len(images), generator=generator) < 0.5).to(images.device)
    return torch.where(mask.view(-1, 1, 1, 1), images.flip(3), images)


def resized_crop(images: torch.Tensor, generator: torch.Generator, min_area: float = 0.35) -> torch.Tensor:
    """Random-resized crop and flip as one batched affine resampling (bilinear)."""
    n = len(images)
    area = min_area + (1 - min_area) * torch.rand(n, generator=generator)
    log_ratio = (torch.rand(n, generator=generator) * 2 - 1) * math.log(4 / 3)
    sx = (area * log_ratio.exp()).sqrt().clamp(max=1)   # crop side / image side, in x and y
    sy = (area / log_ratio.exp()).sqrt().clamp(max=1)
    tx = (torch.rand(n, generator=generator) * 2 - 1) * (1 - sx)
    ty = (torch.rand(n, generator=generator) * 2 - 1) * (1 - sy)
    mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx * mirror, tx, sy, ty
    theta = theta.to(images.device, images.dtype)
    grid = torch.nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
    return torch.nn.functional.grid_sample(images, grid, mode="bilinear", padding_mode="reflection",
                                           align_corners=False)


AUGMENTATIONS = ("crop", "resized_crop")
