"""Images in requests: data URLs or bare base64 of PNG/JPEG -> float tensors (answers are encoded
by synthesis/recipes.py's `encode_png`, beside the recipe it writes).

The size is read from the header and checked before any pixel is decoded, so a small file
that inflates to a huge image (a decompression bomb) costs nothing.
"""
import base64
import binascii
import io
import warnings

import numpy as np
import torch
from PIL import Image

from ..synthesis.errors import FieldError

FORMATS = ("PNG", "JPEG")


def decode_image(data: str, field: str, max_pixels: int) -> torch.Tensor:
    """(1,3,H,W) float in [0,1]; transparent pixels are composited onto white."""
    img = _open(data, field, max_pixels)
    rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255
    rgb, alpha = rgba[..., :3], rgba[..., 3:]
    return torch.from_numpy(rgb * alpha + (1 - alpha)).permute(2, 0, 1)[None].contiguous()


def decode_mask(data: str, field: str, max_pixels: int) -> torch.Tensor:
    """(H,W) float in [0,1]: 1 where the mask is white and opaque (alpha times luminance)."""
    img = _open(data, field, max_pixels)
    la = np.asarray(img.convert("LA"), dtype=np.float32) / 255
    return torch.from_numpy(la[..., 0] * la[..., 1]).contiguous()


def _open(data: str, field: str, max_pixels: int) -> Image.Image:
    raw = base64_bytes(data, field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise FieldError(field, f"image is too large: at most {max_pixels} pixels") from None
    except Exception:  # PIL raises many types for data that is not an image
        raise FieldError(field, "not a PNG or JPEG image") from None
    if img.format not in FORMATS:
        raise FieldError(field, f"{img.format} images are not supported: send PNG or JPEG")
    width, height = img.size
    if width * height > max_pixels:
        raise FieldError(field, f"image is {width}x{height}: at most {max_pixels} pixels")
    try:
        img.load()
    except Exception:
        raise FieldError(field, "the image data is truncated or corrupt") from None
    return img


def base64_bytes(data: str, field: str) -> bytes:
    """The bytes of a base64 data URL or bare base64 string; FieldError names `field` otherwise."""
    if not isinstance(data, str) or not data:
        raise FieldError(field, "expected a data URL or base64 string")
    if data.startswith("data:"):
        header, sep, data = data.partition(",")
        if not sep or not header.endswith(";base64"):
            raise FieldError(field, "expected a base64 data URL (data:image/png;base64,...)")
    try:
        return base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise FieldError(field, "broken base64 data") from None
