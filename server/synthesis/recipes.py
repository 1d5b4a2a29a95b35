"""Recipes: everything that made a result, so that the result reproduces itself.

A `Recipe` names the task, the model (its id and card hash), the seed, every effective setting
and every input. `tasks.build` attaches one to each Problem; `tasks.rerun(model, recipe)` makes the
same pixels again on the same device. PNGs written by the CLI, the API and the canvas carry it in
two chunks: the compressed text chunk `robust-canvas` (the recipe as JSON, with the index of the image
in its batch; a few kB) and the private binary chunk `rcIN` (the input tensors as compressed
safetensors: 8-bit ones as PNG bytes, the others float32, so the inputs come back bit for bit).
Every PNG reader opens them with its default limits, and reading one back is bounded (see
`read_png_recipe`).
"""
import base64
import hashlib
import io
import json
import math
import struct
import sys
import zlib
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, PngImagePlugin
from safetensors.torch import load as load_tensors, save as save_tensors

from .errors import FieldError

FORMAT = "robust-canvas/1"
RECIPE_KEY = "robust-canvas"            # zTXt chunk: the recipe as JSON
INPUTS_CHUNK = b"rcIN"                  # private ancillary chunk (lower-case 1st and 2nd letters): the inputs
LEGACY_INPUTS_KEY = "robust-canvas-inputs"   # before issue 18: base64 text, which Pillow refused past 1 MB
MAX_RECIPE_TEXT = 512 * 1024            # the JSON stays under Pillow's MAX_TEXT_CHUNK (1 MB)
# Reading is capped by what the image's size can need: inputs are at most a few images and masks of
# the result's size (float32 where not 8-bit: 12 bytes a pixel for an image, 4 for a mask) -- or a
# larger photo that was shown at most DISPLAY_MAX times the model's size.
INPUT_BYTES_PER_PIXEL = 64
INPUT_BYTES_FLOOR = 4 * 1024 * 1024
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class RecipeError(FieldError):
    """A file or value that is not a readable recipe: a FieldError of the PNG that carries it."""

    def __init__(self, message: str, field: str = "png"):
        super().__init__(field, message)


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
    """First 16 hex digits of the SHA-256 of the card, as canonical JSON, less its `earlier_cards` (so
    that a card listing none hashes as it did before cards could list them)."""
    card = {k: v for k, v in meta.to_dict().items() if k != "earlier_cards"}
    return hashlib.sha256(json.dumps(card, sort_keys=True).encode()).hexdigest()[:16]


def reruns_on(recipe: Recipe, meta) -> bool:
    """Whether the recipe was made by this card's model: with this card, or one it lists as earlier."""
    return recipe.model == meta.id and (recipe.card == card_hash(meta) or recipe.card in meta.earlier_cards)


# ---- PNG ----------------------------------------------------------------------------------------

def png_bytes(image: torch.Tensor, recipe: Recipe | None = None, index: int = 0) -> bytes:
    """(3,H,W) in [0,1] -> PNG bytes, with the recipe's chunks when given.

    The recipe (JSON, a few kB) goes in a zTXt chunk, far under Pillow's 1 MB text limit; the inputs go
    in the private ancillary chunk `rcIN`, which every reader skips (Pillow, browsers) and only we read.
    """
    array = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    info = None
    if recipe is not None:
        info = PngImagePlugin.PngInfo()
        text = json.dumps({**recipe.to_json(), "index": index})
        if len(text) > MAX_RECIPE_TEXT:
            raise RecipeError(f"the recipe is {len(text)} bytes of JSON; at most {MAX_RECIPE_TEXT}")
        info.add_text(RECIPE_KEY, text, zip=True)
        tensors = recipe.tensors()
        if tensors:
            info.add(INPUTS_CHUNK, zlib.compress(_pack(tensors)), after_idat=True)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def encode_png(image: torch.Tensor, recipe: Recipe | None = None, index: int = 0) -> str:
    """(3,H,W) in [0,1] -> a PNG data URL, carrying the recipe when given."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image, recipe, index)).decode()


def encode_pngs(images: torch.Tensor, recipe: Recipe | None = None) -> list[str]:
    return [encode_png(image, recipe, i) for i, image in enumerate(images)]


def read_png_recipe(data: bytes) -> tuple[Recipe, int]:
    """The recipe and the image's index in its batch, from PNG bytes; RecipeError if there is none.

    Safe against decompression bombs: only our own chunks are inflated, and all of them together
    at most `input_budget(width, height)` bytes, the most the inputs of an image that size can need;
    reading stops at that cap.
    """
    budget = _Budget.for_image(*_png_size(data))
    chunks = _our_chunks(data, budget)
    if RECIPE_KEY not in chunks:
        raise RecipeError("this PNG has no robust-canvas recipe (was it made by robust-canvas, then re-saved?)")
    try:
        meta = json.loads(chunks[RECIPE_KEY])
        if INPUTS_CHUNK in chunks:
            tensors = _unpack(chunks[INPUTS_CHUNK], budget)
        elif LEGACY_INPUTS_KEY in chunks:  # PNGs written before the rcIN chunk
            tensors = _unpack_legacy(base64.b64decode(chunks[LEGACY_INPUTS_KEY]))
        else:
            tensors = {}
    except (ValueError, TypeError) as e:
        if isinstance(e, RecipeError):
            raise
        raise RecipeError(f"a broken recipe: {e}") from None
    recipe = Recipe.from_json(meta, tensors)
    index = meta.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise RecipeError(f"a broken recipe: index {index!r}")
    return recipe, index


def input_budget(width: int, height: int) -> int:
    """Bytes the recipe of a width x height result may inflate to, all chunks and inputs together."""
    return INPUT_BYTES_FLOOR + INPUT_BYTES_PER_PIXEL * width * height


class _Budget:
    """What is left of `input_budget` while a PNG's chunks and inputs inflate."""

    def __init__(self, limit: int, what: str):
        self.total = self.left = limit
        self.what = what   # what the limit is for, in its error message

    @classmethod
    def for_image(cls, width: int, height: int) -> "_Budget":
        return cls(input_budget(width, height), f"a {width}x{height} image")

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise RecipeError(f"the recipe inflates past {self.total} bytes, the limit for {self.what}")

    def inflate(self, raw: bytes) -> bytes:
        d = zlib.decompressobj()
        out = d.decompress(raw, max(self.left, 0) + 1)   # never more than the cap (+1 to notice)
        self.take(len(out))
        return out


def _png_size(data: bytes) -> tuple[int, int]:
    if not data.startswith(_PNG_SIGNATURE):
        raise RecipeError("not a PNG file")
    head = data[len(_PNG_SIGNATURE):len(_PNG_SIGNATURE) + 16]
    if len(head) < 16 or head[4:8] != b"IHDR":
        raise RecipeError("not a PNG file (no IHDR chunk)")
    return struct.unpack(">II", head[8:16])


def _our_chunks(data: bytes, budget: _Budget) -> dict:
    """The recipe text and the raw inputs, read only from the chunks we write; each at most once."""
    out, pos = {}, len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IEND":
            break
        if kind == INPUTS_CHUNK:
            key, value = INPUTS_CHUNK, body
        elif kind in (b"tEXt", b"zTXt", b"iTXt") and body.partition(b"\0")[0] in _TEXT_KEYS:
            key, value = _text_chunk(kind, body, budget)
        else:
            continue
        if key in out:
            raise RecipeError(f"a broken recipe: two {key!r} chunks")
        out[key] = value
    return out


_TEXT_KEYS = {RECIPE_KEY.encode(), LEGACY_INPUTS_KEY.encode()}


def _text_chunk(kind: bytes, body: bytes, budget: _Budget) -> tuple[str, str]:
    key, _, rest = body.partition(b"\0")
    try:
        if kind == b"tEXt":
            text = rest
        elif kind == b"zTXt":
            text = budget.inflate(rest[1:])
        else:                                            # iTXt: flag, method, language, key, text
            compressed, rest = rest[0], rest[2:]
            _, _, rest = rest.partition(b"\0")
            _, _, text = rest.partition(b"\0")
            text = budget.inflate(text) if compressed else text
        return key.decode("latin-1"), text.decode("utf-8" if kind == b"iTXt" else "latin-1")
    except (zlib.error, UnicodeDecodeError, IndexError) as e:
        raise RecipeError(f"a broken recipe chunk: {e}") from None


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
    """Safetensors of the inputs: 8-bit ones (photos, binary masks) as PNG bytes of a gray image of the
    tensor's planes stacked (lossless and several times smaller than raw), the others float32."""
    out = {}
    for key, t in tensors.items():
        t = t.detach().float().cpu().contiguous()
        q = (t * 255).round()
        exact = t.dim() >= 2 and bool(((q / 255) == t).all()) and bool(((q >= 0) & (q <= 255)).all())
        if exact:
            planes = q.to(torch.uint8).reshape(-1, t.shape[-1]).numpy()
            buf = io.BytesIO()
            Image.fromarray(planes, "L").save(buf, "PNG")
            out[key + ".png"] = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
            # the shape as a tensor, not as metadata: safetensors writes metadata in hash order, which
            # differs between processes, and the same inputs must give the same bytes everywhere
            out[key + ".shape"] = torch.tensor(t.shape, dtype=torch.int64)
        else:
            out[key + ".f32"] = t
    return save_tensors(out)


def _load(raw: bytes) -> dict[str, torch.Tensor]:
    try:
        return load_tensors(raw)
    except Exception as e:  # safetensors raises its own error types for broken data
        raise RecipeError(f"broken recipe inputs: {e}") from None


def _unpack(compressed: bytes, budget: "_Budget") -> dict[str, torch.Tensor]:
    stored = _load(budget.inflate(compressed))
    out = {}
    for key, t in stored.items():
        name, _, kind = key.rpartition(".")
        if kind == "png":
            shape = stored.get(name + ".shape")
            shape = shape.tolist() if shape is not None and shape.dtype == torch.int64 and shape.dim() == 1 else None
            if not shape or not all(s > 0 for s in shape):
                raise RecipeError(f"broken recipe inputs: no shape for {name!r}")
            budget.take(math.prod(shape))            # the decoded bytes (declared before decoding)
            out[name] = _png_planes(t.numpy().tobytes(), shape) / 255
        elif kind == "f32":
            out[name] = t.float()
    return out


def _png_planes(data: bytes, shape: list[int]) -> torch.Tensor:
    """The uint8 tensor of `shape` stored as a gray PNG; its size is checked before decoding."""
    try:
        img = Image.open(io.BytesIO(data))
        if img.format != "PNG" or img.mode != "L" or img.size != (shape[-1], math.prod(shape[:-1])):
            raise RecipeError(f"broken recipe inputs: a {img.mode} {img.size} image for shape {shape}")
        return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).reshape(shape).float()
    except (OSError, ValueError) as e:
        if isinstance(e, RecipeError):
            raise
        raise RecipeError(f"broken recipe inputs: {e}") from None


def _unpack_legacy(raw: bytes) -> dict[str, torch.Tensor]:
    """Inputs as PNGs before issue 18 stored them: safetensors, uint8 (.u8) or float32 (.f32)."""
    out = {}
    for key, t in _load(raw).items():
        name, _, kind = key.rpartition(".")
        out[name] = t.float() / 255 if kind == "u8" else t.float()
    return out


def pack_inputs(recipe: Recipe) -> bytes:
    """The recipe's input tensors, losslessly (what `Recipe.from_json` needs beside `to_json()`)."""
    return zlib.compress(_pack(recipe.tensors()))


def unpack_inputs(raw: bytes) -> dict[str, torch.Tensor]:
    """`pack_inputs`'s tensors again; RecipeError for broken data. No size cap: these are the bytes
    the server itself recorded (its result store), not a PNG someone sent."""
    return _unpack(raw, _Budget(sys.maxsize - 1, "the server's own records"))
