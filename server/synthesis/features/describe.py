"""`describe_features`: name every feature of a model from a folder of its training images.

One pass of the model over the images gives, per image, the pooled features and the peak of each
feature map with its position. From these:
- drive[c, k] = last-layer weight W[c, k] x mean activation of feature k on images of class c (the
  folder's labels when its classes are the model's, else the model's own predictions): how much the
  feature adds to class c's logit on that class's images. A feature's group is the class it drives
  most, its rank its place among the group's features.
- its crops: square crops of the images where it peaks highest, centred on the peak's cell (half
  the image's side), and from the top crops a colour word and a texture word (words.py).
The name is "<group> · <look>", numbered where two features of a group look alike.
"""
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .names import FeatureNames, NamedFeature, fingerprint, normalize
from .words import colour_word, look, texture_stats, texture_words

LOOK_CROPS = 8   # crops the words are computed from (the sheet shows fewer)


@dataclass
class Activations:
    drive: torch.Tensor    # (C,D) W[c,k] x mean activation of k on class c's images
    weight: torch.Tensor   # (C,D) the last layer's weights
    peak: torch.Tensor     # (N,D) the highest value of each feature map
    where: torch.Tensor    # (N,D) flat position of that value in the (h,w) map
    map_size: tuple[int, int]
    labels_from: str       # "folders" or "predictions"


@torch.no_grad()
def activations(model, data, batch: int = 64, progress: Callable[[int, int], None] | None = None) -> Activations:
    """One pass over `data` (a TensorDataset at the model's input size)."""
    fc = model.backbone.classifier()
    weight = fc.weight.detach().float().cpu()
    n, d, c = len(data), weight.shape[1], weight.shape[0]
    peak, where = torch.zeros(n, d), torch.zeros(n, d, dtype=torch.int16)
    pooled, predicted = torch.zeros(n, d), torch.zeros(n, dtype=torch.long)
    for a in range(0, n, batch):
        x = (data.images[a:a + batch].float() / 255).to(model.device, memory_format=torch.channels_last)
        fmap = model.feature_map(x).float()
        flat = fmap.flatten(2)
        peak[a:a + len(x)], where[a:a + len(x)] = (t.cpu() for t in flat.max(2))
        pooled[a:a + len(x)] = flat.mean(2).cpu()
        predicted[a:a + len(x)] = fc(flat.mean(2)).argmax(1).cpu()
        if progress:
            progress(min(a + batch, n), n)
    same = [normalize(x) for x in data.classes] == [normalize(x) for x in model.meta.classes]
    labels = data.labels if same else predicted
    mean = torch.stack([pooled[labels == k].mean(0) if (labels == k).any() else torch.zeros(d) for k in range(c)])
    return Activations(weight * mean, weight, peak, where, tuple(fmap.shape[2:]), "folders" if same else "predictions")


def crop(image: torch.Tensor, flat: int, map_size: tuple[int, int]) -> torch.Tensor:
    """The square (half the image's side) of `image` (3,H,W) centred on cell `flat` of the feature map."""
    _, height, width = image.shape
    side = max(4, min(height, width) // 2)
    i, j = divmod(int(flat), map_size[1])
    cy, cx = (i + 0.5) * height / map_size[0], (j + 0.5) * width / map_size[1]
    top = int(min(max(round(cy - side / 2), 0), height - side))
    left = int(min(max(round(cx - side / 2), 0), width - side))
    return image[:, top:top + side, left:left + side]


def describe_features(model, data, files: list[str] | None = None, *, top: int = 3, links: int = 3,
                      acts: Activations | None = None, progress=None) -> tuple[FeatureNames, list[list[torch.Tensor]]]:
    """Names for every feature, and per feature its `top` crops ((3,s,s) float in [0,1]).

    `files`: the images' paths relative to the data folder, recorded as where the crops came from.
    """
    acts = acts or activations(model, data, progress=progress)
    d = acts.drive.shape[1]
    order = acts.peak.argsort(0, descending=True)[:max(top, LOOK_CROPS)]      # (K,D) image indices
    crops, colours, stats = [], [], []
    for k in range(d):
        chosen = [crop(data.images[i].float() / 255, acts.where[i, k], acts.map_size) for i in order[:, k].tolist()]
        crops.append(chosen[:top])
        pixels = torch.stack(chosen)
        colours.append(colour_word(pixels))
        stats.append(texture_stats(pixels))
    textures = texture_words(stats)
    classes = list(model.meta.classes)
    groups = [classes[int(acts.drive[:, k].argmax())] if float(acts.drive[:, k].max()) > 0 else None
              for k in range(d)]
    ranks = _ranks(acts.drive, groups, classes)
    features = []
    for k in range(d):
        strongest = acts.drive[:, k].argsort(descending=True)[:links].tolist()
        linked = [{"class": classes[c], "weight": round(float(acts.weight[c, k]), 4),
                   "drive": round(float(acts.drive[c, k]), 4)} for c in strongest if float(acts.drive[c, k]) > 0]
        sources = [{"file": files[i] if files else None, "activation": round(float(acts.peak[i, k]), 3)}
                   for i in order[:top, k].tolist()]
        features.append(NamedFeature(k, look(colours[k], textures[k]), groups[k], ranks[k], linked, colours[k],
                                     textures[k], sources))
    _name(features)
    names = FeatureNames(model=model.meta.id, fingerprint=fingerprint(model), features=features, tile=0,
                         slots=1 + top, per_row=0,
                         source={"images": len(data), "labels": acts.labels_from, "method": __doc__.split("\n")[0]})
    return names, crops


def _ranks(drive: torch.Tensor, groups: list[str | None], classes: list[str]) -> list[int | None]:
    ranks: list[int | None] = [None] * len(groups)
    for c, name in enumerate(classes):
        members = [k for k, g in enumerate(groups) if g == name]
        for r, k in enumerate(sorted(members, key=lambda k: -float(drive[c, k])), start=1):
            ranks[k] = r
    return ranks


def _name(features: list[NamedFeature]) -> None:
    """'<group> · <look>' (the look alone without a group); repeats numbered by rank: '... 2'."""
    seen: dict[str, int] = {}
    for f in sorted(features, key=lambda f: (f.group is None, f.group or "", f.rank or 0, f.index)):
        base = f"{f.group.replace('_', ' ')} · {f.name}" if f.group else f.name
        seen[base] = seen.get(base, 0) + 1
        f.name = base if seen[base] == 1 else f"{base} {seen[base]}"


def swatch_sheet(names: FeatureNames, swatches: torch.Tensor | None, crops: list[list[torch.Tensor]],
                 tile: int) -> Image.Image:
    """The sheet: per feature its synthetic swatch (gray when None) then its crops, each `tile` px.

    Sets `names.tile` and `names.per_row` (about square, well inside WebP's 16383-px limit).
    """
    d, slots = len(crops), names.slots
    names.tile, names.per_row = tile, max(1, math.ceil(math.sqrt(d * slots) / slots))
    rows = math.ceil(d / names.per_row)
    sheet = np.full((rows * tile, names.per_row * slots * tile, 3), 255, dtype=np.uint8)
    for k in range(d):
        tiles = [swatches[k] if swatches is not None else torch.full((3, tile, tile), 0.5), *crops[k]]
        for slot, t in enumerate(tiles):
            left, upper, _, _ = names.box(k, slot)
            sheet[upper:upper + tile, left:left + tile] = _to_tile(t, tile)
    return Image.fromarray(sheet)


def _to_tile(image: torch.Tensor, tile: int) -> np.ndarray:
    x = F.interpolate(image[None].float(), size=(tile, tile), mode="bicubic", align_corners=False,
                      antialias=True)[0]
    return (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
