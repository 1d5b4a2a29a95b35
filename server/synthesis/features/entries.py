"""The paint palette's entries (what `GET /api/models/{id}/features` answers): per feature its index,
synthetic swatch, name, linked classes and photo crops; the `class` and `q` filters.

A model whose names were made with swatches (`robust-canvas features name`, shipped for the shipped
models) answers from its files in well under a second. Any other model's synthetic swatches take
one optimizer run per 64 features (the server makes them in the background: api/palettes.py); its
classes then come from the last layer's weights alone.
"""
import base64
import io

import torch
from PIL import Image

from ..palette import feature_palette
from ..recipes import encode_png
from .names import matches, normalize

LINKS = 3      # linked classes listed per feature
JPEG_QUALITY = 85


def palette_entries(model, size: int, stop=None, progress=None) -> list[dict]:
    """Every feature's entry; computes the synthetic swatches unless the model's sheet has them."""
    names = model.feature_names
    sheet = _sheet(names) if names is not None and names.source.get("swatches") else None
    if sheet is not None:
        swatches = [_tile_png(sheet, names.box(k, 0), size) for k in range(len(names.features))]
    else:
        swatches = [encode_png(thumbnail(s, size)) for s in feature_palette(model, stop=stop, progress=progress)]
        sheet = _sheet(names) if names is not None else None
    if names is None:
        return [{**UNNAMED, "index": k, "thumbnail": t, **_weight_links(model, k)} for k, t in enumerate(swatches)]
    return [{"index": f.index, "thumbnail": swatches[f.index], "name": f.name, "group": f.group, "rank": f.rank,
             "classes": f.classes, "colour": f.colour, "texture": f.texture,
             "crops": [_tile_jpeg(sheet, names.box(f.index, j)) for j in range(1, names.slots)] if sheet else []}
            for f in names.features]


# Every entry has every field (the answer is the stored entries as they are).
UNNAMED = {"name": None, "group": None, "rank": None, "classes": [], "colour": None, "texture": None, "crops": []}


def select(entries: list[dict], model, class_: str | None = None, q: str | None = None) -> list[dict]:
    """The entries linked to `class_` (strongest first) and matching every word of `q`.

    LookupError for a class the model does not have.
    """
    if class_ is not None:
        wanted = _class_name(model, class_)

        def link(e):
            return next((c for c in e["classes"] if c["class"] == wanted), None)
        entries = sorted((e for e in entries if link(e)), key=lambda e: -(link(e)["drive"] or link(e)["weight"]))
    if q:
        entries = [e for e in entries if matches([e["index"], e["name"], e["colour"], e["texture"],
                                                  *(c["class"] for c in e["classes"])], q)]
    return entries


def _class_name(model, value: str) -> str:
    classes = list(model.meta.classes)
    if value.strip().isdigit() and int(value) < len(classes):
        return classes[int(value)]
    by_name = {normalize(c): c for c in classes}
    if normalize(value) not in by_name:
        raise LookupError(f"class: unknown class {value!r} for model {model.meta.id!r}: use a name "
                          f"({', '.join(classes[:12])}{', ...' if len(classes) > 12 else ''}) or an index")
    return by_name[normalize(value)]


def _weight_links(model, k: int) -> dict:
    """Without names: the classes with the largest positive last-layer weights from feature k."""
    w = model.backbone.classifier().weight[:, k].detach().float().cpu()
    top = [c for c in w.argsort(descending=True)[:LINKS].tolist() if w[c] > 0]
    classes = [{"class": model.meta.classes[c], "weight": round(float(w[c]), 4), "drive": None} for c in top]
    return {"group": classes[0]["class"] if classes else None, "classes": classes}


def _sheet(names) -> Image.Image | None:
    if names.sheet is None:
        return None
    with Image.open(names.sheet) as im:
        return im.convert("RGB")


def _tile_png(sheet: Image.Image, box, size: int) -> str:
    tile = sheet.crop(box)
    if max(tile.size) > size:
        tile = tile.resize((size, size), Image.BOX)
    return _data_url(tile, "PNG")


def _tile_jpeg(sheet: Image.Image, box) -> str:
    return _data_url(sheet.crop(box), "JPEG")


def _data_url(image: Image.Image, fmt: str) -> str:
    buf = io.BytesIO()
    image.save(buf, fmt, **({"quality": JPEG_QUALITY} if fmt == "JPEG" else {}))
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def thumbnail(image: torch.Tensor, size: int) -> torch.Tensor:
    """Shrink (3,H,W) so its long side is at most `size` (palette swatches stay light)."""
    long = max(image.shape[-2:])
    if long <= size:
        return image
    hw = [max(1, round(s * size / long)) for s in image.shape[-2:]]
    return torch.nn.functional.interpolate(image[None], size=hw, mode="area")[0]
