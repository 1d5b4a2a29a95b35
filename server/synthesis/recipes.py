"""Recipes: everything that made a result, so that the result reproduces itself.

A `Recipe` names the task, the model (its id and card hash), the seed, every effective setting
and every input. `tasks.build` attaches one to each Problem; `tasks.rerun(model, recipe)` makes the
same pixels again on the same device. PNGs written by the CLI, the API and the canvas carry it in
two compressed text chunks: `robust-canvas` (the recipe as JSON, with the index of the image in its
batch) and `robust-canvas-inputs` (the input tensors as base64 safetensors: uint8 where the values
are exactly 8-bit, else float32, so the inputs come back bit for bit).
"""
import base64
import hashlib
import io
import json
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, PngImagePlugin
from safetensors.torch import load as load_tensors, save as save_tensors

FORMAT = "robust-canvas/1"
RECIPE_KEY, INPUTS_KEY = "robust-canvas", "robust-canvas-inputs"
MAX_CHUNK_BYTES = 256 * 1024 * 1024   # decompressed text we are willing to read from one PNG
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class RecipeError(ValueError):
    """A file or value that is not a readable recipe."""


@dataclass
class Recipe:
    task: str
    model: str                  # model id
    card: str                   # card_hash of the model's card
    seed: int
    settings: dict              # every effective setting, defaults included
    inputs: dict = field(default_factory=dict)   # registry name -> value (tensors, lists of tensors, plain values)

    def to_json(self) -> dict:
        """JSON-able: tensors become {"tensor": key} references into `tensors()`."""
        plain = {name: _refs(name, value) for name, value in self.inputs.items()}
        return {"format": FORMAT, "task": self.task, "model": self.model, "card": self.card, "seed": self.seed,
                "settings": self.settings, "inputs": plain}

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {}
        for name, value in self.inputs.items():
            for key, t in _tensor_items(name, value):
                out[key] = t
        return out

    @classmethod
    def from_json(cls, data: dict, tensors: dict[str, torch.Tensor]) -> "Recipe":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RecipeError(f"not a {FORMAT} recipe")
        try:
            inputs = {name: _deref(value, tensors) for name, value in data["inputs"].items()}
            return cls(task=data["task"], model=data["model"], card=data["card"], seed=int(data["seed"]),
                       settings=dict(data["settings"]), inputs=inputs)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise RecipeError(f"a broken recipe: {type(e).__name__}: {e}") from None


def card_hash(meta) -> str:
    """First 16 hex digits of the SHA-256 of the card, as canonical JSON."""
    return hashlib.sha256(json.dumps(meta.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


# ---- PNG ----------------------------------------------------------------------------------------

def png_bytes(image: torch.Tensor, recipe: Recipe | None = None, index: int = 0) -> bytes:
    """(3,H,W) in [0,1] -> PNG bytes, with the recipe's chunks when given."""
    array = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    info = None
    if recipe is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text(RECIPE_KEY, json.dumps({**recipe.to_json(), "index": index}), zip=True)
        tensors = recipe.tensors()
        if tensors:
            info.add_text(INPUTS_KEY, base64.b64encode(_pack(tensors)).decode(), zip=True)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def read_png_recipe(data: bytes) -> tuple[Recipe, int]:
    """The recipe and the image's index in its batch, from PNG bytes; RecipeError if there is none."""
    chunks = _text_chunks(data)
    if RECIPE_KEY not in chunks:
        raise RecipeError("this PNG has no robust-canvas recipe (was it made by robust-canvas, then re-saved?)")
    try:
        meta = json.loads(chunks[RECIPE_KEY])
        tensors = _unpack(base64.b64decode(chunks[INPUTS_KEY])) if INPUTS_KEY in chunks else {}
    except (ValueError, TypeError) as e:
        raise RecipeError(f"a broken recipe: {e}") from None
    recipe = Recipe.from_json(meta, tensors)
    index = meta.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise RecipeError(f"a broken recipe: index {index!r}")
    return recipe, index


def _text_chunks(data: bytes) -> dict[str, str]:
    """tEXt/zTXt/iTXt chunks of a PNG (PIL caps text chunks at 1 MB; inputs can be larger)."""
    if not data.startswith(_PNG_SIGNATURE):
        raise RecipeError("not a PNG file")
    out, pos = {}, len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            key, value = _text_chunk(kind, body)
            if key:
                out[key] = value
        elif kind == b"IEND":
            break
    return out


def _text_chunk(kind: bytes, body: bytes) -> tuple[str | None, str]:
    key, _, rest = body.partition(b"\0")
    try:
        if kind == b"tEXt":
            return key.decode("latin-1"), rest.decode("latin-1")
        if kind == b"zTXt":
            return key.decode("latin-1"), _inflate(rest[1:]).decode("latin-1")
        compressed, rest = rest[0], rest[2:]                      # iTXt: flag, method, language, key, text
        _, _, rest = rest.partition(b"\0")
        _, _, text = rest.partition(b"\0")
        return key.decode("latin-1"), (_inflate(text) if compressed else text).decode("utf-8")
    except (zlib.error, UnicodeDecodeError, IndexError):
        return None, ""


def _inflate(raw: bytes) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(raw, MAX_CHUNK_BYTES)
    if d.unconsumed_tail:
        raise RecipeError(f"a text chunk inflates past {MAX_CHUNK_BYTES} bytes")
    return out


# ---- tensors ------------------------------------------------------------------------------------

def _tensor_items(name: str, value):
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        yield name, value
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _tensor_items(f"{name}.{i}", v)


def _refs(name: str, value):
    if isinstance(value, torch.Tensor):
        return {"tensor": name} if value.is_floating_point() else value.tolist()
    if isinstance(value, (list, tuple)):
        return [_refs(f"{name}.{i}", v) for i, v in enumerate(value)]
    return value


def _deref(value, tensors: dict):
    if isinstance(value, dict):
        if set(value) != {"tensor"} or value["tensor"] not in tensors:
            raise RecipeError(f"a broken recipe: no input tensor {value!r}")
        return tensors[value["tensor"]]
    if isinstance(value, list):
        return [_deref(v, tensors) for v in value]
    return value


def _pack(tensors: dict[str, torch.Tensor]) -> bytes:
    """uint8 where that loses nothing (8-bit images, binary masks), float32 otherwise."""
    out = {}
    for key, t in tensors.items():
        t = t.detach().float().cpu().contiguous()
        q = (t * 255).round()
        exact = bool(((q / 255) == t).all()) and bool(((q >= 0) & (q <= 255)).all())
        out[key + (".u8" if exact else ".f32")] = q.to(torch.uint8) if exact else t
    return save_tensors(out)


def _unpack(raw: bytes) -> dict[str, torch.Tensor]:
    try:
        stored = load_tensors(raw)
    except Exception as e:  # safetensors raises its own error types for broken data
        raise RecipeError(f"broken recipe inputs: {e}") from None
    out = {}
    for key, t in stored.items():
        name, _, kind = key.rpartition(".")
        out[name] = t.float() / 255 if kind == "u8" else t.float()
    return out


def pack_inputs(recipe: Recipe) -> bytes:
    """The recipe's input tensors, losslessly (what `Recipe.from_json` needs beside `to_json()`)."""
    return _pack(recipe.tensors())


def unpack_inputs(raw: bytes) -> dict[str, torch.Tensor]:
    """`pack_inputs`'s tensors again; RecipeError for broken data."""
    return _unpack(raw)
