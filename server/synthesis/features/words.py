"""Words for what a feature looks like, from the real photo crops where it fires most.

A colour word from the crops' hue and saturation, a texture word from their gradient statistics
(strength, fineness and the orientation coherence of the structure tensor). Texture words are
relative: thresholds are quantiles over all features of one model, so a model's palette uses the
whole vocabulary rather than calling everything "busy".
"""
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Upper hue bound (degrees) -> word; saturation below GREY_SATURATION is achromatic.
HUES = ((15, "red"), (42, "orange"), (70, "yellow"), (165, "green"), (195, "teal"), (255, "blue"),
        (290, "purple"), (335, "pink"), (360, "red"))
GREY_SATURATION = 0.16


@dataclass(frozen=True)
class Texture:
    strength: float    # mean gradient magnitude, [0,1] pixel units per pixel
    fineness: float    # gradient at full resolution / gradient at half resolution (high: fine grain)
    coherence: float   # 0: no dominant orientation, 1: all edges parallel
    angle: float       # dominant gradient direction in degrees, 0 = horizontal (vertical edges)


def colour_word(crops: torch.Tensor) -> str:
    """crops (N,3,H,W) in [0,1] -> red, orange, ..., brown, grey, white, dark."""
    mx, mn = crops.max(1).values, crops.min(1).values
    sat = (mx - mn) / mx.clamp_min(1e-6)
    value, saturation = float(mx.mean()), float(sat.mean())
    if saturation < GREY_SATURATION:
        return "dark" if value < 0.3 else "white" if value > 0.75 else "grey"
    r, g, b = crops.unbind(1)
    hue = torch.atan2(math.sqrt(3) * (g - b), 2 * r - g - b)       # the hue angle, without branches
    weight = sat * mx
    angle = math.degrees(math.atan2(float((weight * hue.sin()).sum()), float((weight * hue.cos()).sum()))) % 360
    word = next(w for bound, w in HUES if angle < bound)
    if word in ("red", "orange", "yellow") and value < 0.5:
        return "brown"
    return word


def texture_stats(crops: torch.Tensor) -> Texture:
    """Gradient statistics of crops (N,3,H,W) in [0,1], pooled over all of them."""
    gray = crops.mean(1, keepdim=True)
    gx, gy = _gradients(gray)
    half = F.avg_pool2d(gray, 2)
    hx, hy = _gradients(half)
    strength = float((gx ** 2 + gy ** 2).sqrt().mean())
    coarse = float((hx ** 2 + hy ** 2).sqrt().mean()) / 2   # per full-resolution pixel
    jxx, jyy, jxy = float((gx * gx).mean()), float((gy * gy).mean()), float((gx * gy).mean())
    coherence = math.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / max(jxx + jyy, 1e-12)
    angle = math.degrees(0.5 * math.atan2(2 * jxy, jxx - jyy)) % 180
    return Texture(strength, strength / max(coarse, 1e-6), coherence, angle)


def _gradients(gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x and y, on the common (H-1,W-1) grid."""
    return gray[..., :-1, 1:] - gray[..., :-1, :-1], gray[..., 1:, :-1] - gray[..., :-1, :-1]


def texture_words(stats: list[Texture]) -> list[str]:
    """One texture word per feature, relative to the model's other features."""
    def quantile(values, q):
        return float(torch.tensor(values).quantile(q)) if values else 0.0
    strong = quantile([s.strength for s in stats], 0.75)
    weak = quantile([s.strength for s in stats], 0.25)
    fine = quantile([s.fineness for s in stats], 0.7)
    oriented = max(quantile([s.coherence for s in stats], 0.85), 0.12)
    return [_texture_word(s, strong, weak, fine, oriented) for s in stats]


def _texture_word(s: Texture, strong: float, weak: float, fine: float, oriented: float) -> str:
    if s.coherence >= oriented:
        # The gradient points across the stripes: a horizontal gradient means vertical stripes.
        direction = "vertical" if s.angle < 22.5 or s.angle >= 157.5 else \
            "horizontal" if 67.5 <= s.angle < 112.5 else "diagonal"
        return f"{direction} stripes"
    if s.strength <= weak:
        return "smooth"
    if s.fineness >= fine:
        return "grainy"
    return "detailed" if s.strength >= strong else "blotchy"


def look(colour: str, texture: str) -> str:
    """'grey vertical stripes', 'grainy green', 'smooth blue'."""
    return f"{colour} {texture}" if texture.endswith("stripes") else f"{texture} {colour}"
