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

# Upper hue bound (degrees) -> word. A pixel is achromatic (black, grey, white) below GREY_SATURATION
# or CHROMA, and a dark red, orange or yellow is brown.
HUES = ((15, "red"), (42, "orange"), (70, "yellow"), (165, "green"), (195, "teal"), (255, "blue"),
        (290, "purple"), (335, "pink"), (360, "red"))
WORDS = ("black", "grey", "white", "brown", *dict.fromkeys(w for _, w in HUES))
GREY_SATURATION, CHROMA = 0.15, 0.07
GREY_SALIENCE = 0.6   # an achromatic pixel counts this much: people name the colourful part of a picture
SECOND = 0.3   # a second colour is named when it covers at least this share of the (centre-weighted) crops


@dataclass(frozen=True)
class Texture:
    strength: float    # mean gradient magnitude, [0,1] pixel units per pixel
    fineness: float    # gradient at full resolution / gradient at half resolution (high: fine grain)
    coherence: float   # 0: no dominant orientation, 1: all edges parallel
    angle: float       # dominant gradient direction in degrees, 0 = horizontal (vertical edges)


def colour_word(crops: torch.Tensor) -> str:
    """crops (N,3,H,W) in [0,1] -> 'blue', 'white and green', ...: the colour words of most of the
    pixels, each pixel weighted towards the crop's centre (where the feature fired)."""
    mx, mn = crops.max(1).values, crops.min(1).values
    sat = (mx - mn) / mx.clamp_min(1e-6)
    r, g, b = crops.unbind(1)
    hue = torch.rad2deg(torch.atan2(math.sqrt(3) * (g - b), 2 * r - g - b)) % 360   # the hue angle, branch-free
    bounds = torch.tensor([bound for bound, _ in HUES], dtype=hue.dtype)
    chromatic = torch.tensor([WORDS.index(w) for _, w in HUES])[torch.bucketize(hue, bounds, right=True).clamp(max=8)]
    grey = torch.where(mx < 0.2, 0, torch.where((mx > 0.8) & (sat < 0.12), 2, 1))
    warm = (chromatic <= WORDS.index("yellow")) & (chromatic >= WORDS.index("red"))
    word = torch.where((sat < GREY_SATURATION) | (mx - mn < CHROMA), grey, torch.where(warm & (mx < 0.55), 3, chromatic))
    h, w = crops.shape[-2:]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    centre = torch.exp(-(yy ** 2 + xx ** 2) / (2 * 0.5 ** 2)).expand_as(word)
    weight = centre * torch.where(word < WORDS.index("brown"), GREY_SALIENCE, 1.0)
    share = torch.bincount(word.flatten(), weight.flatten(), minlength=len(WORDS))
    share = share / share.sum()
    first, second = share.argsort(descending=True)[:2].tolist()
    return WORDS[first] if share[second] < SECOND * share[first] + 0.1 else f"{WORDS[first]} and {WORDS[second]}"


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
