"""Task arguments from the command line, read the same way here and for --server.

Images and masks are read with PIL (any format it knows; masks as grayscale, white = the region).
Errors are FileNotFoundError / ValueError that name the file, which `robust-canvas` prints as
`robust-canvas: error: ...`.
"""
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

FILE_MODES = {"image": "RGB", "mask": "L"}   # registry kinds given as files, and how they are read


def existing_file(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such image file: {path}")
    return p


def open_image(path: str, mode: str = "RGB") -> Image.Image:
    """The file as a PIL image in `mode`; FileNotFoundError / ValueError say what is wrong."""
    p = existing_file(path)
    try:
        with Image.open(p) as im:
            return im.convert(mode)
    except Image.DecompressionBombError as e:   # not an OSError: Pillow's limit, said as ours
        raise ValueError(f"{path}: the image is too large to open safely ({e})") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None


def read_image(path: str, mode: str = "RGB") -> torch.Tensor:
    """(3,H,W) for RGB or (H,W) for a mask ('L'), float in [0,1]."""
    t = torch.from_numpy(np.asarray(open_image(path, mode), dtype=np.float32) / 255)
    return t.permute(2, 0, 1) if mode == "RGB" else t


def feature_index(text: str) -> int | str:
    """An index, or a feature or class name (the model resolves it: `features.names.resolve_feature`)."""
    return int(text) if text.strip().isdigit() else text.strip()


def stroke_fields(spec) -> list:
    """The fields one `--stroke` gives one more of (paint: a mask and a feature)."""
    return [f for f in spec.inputs if f.many and f.kind in ("mask", "feature")]


def task_inputs(spec, args, read) -> dict:
    """The registry fields' values from the CLI arguments (Field -> value): files through
    `read(path, mode)` (tensors here, data URLs for a server), extra `--stroke`s appended to
    their fields as lists."""
    values = {f: _read(f, getattr(args, f.arg), read) for f in spec.fields}
    for f, more in zip(stroke_fields(spec), zip(*(getattr(args, "stroke", None) or []))):
        values[f] = [values[f], *(_read(f, _parse(f, v), read) for v in more)]
    return values


def _read(f, value, read):
    return read(value, FILE_MODES[f.kind]) if value is not None and f.kind in FILE_MODES else value


def _parse(f, text: str):
    """A `--stroke` value as its field's type (argparse parses only the positional ones)."""
    return feature_index(text) if f.kind == "feature" else text
