"""`feature_palette`: one swatch per representation component, showing what painting with it adds.

Swatch k maximizes component k of the pooled representation from the same gray seed, all
components batched through the one optimizer for a few steps. The palette is cached on disk,
keyed by model id and a fingerprint of the weights (a retrained model with the same id gets a
new palette): beside a shipped model's weights when that folder is writable, else under the cache dir.
"""
import hashlib
import os
import threading
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from .constraints import Ball
from .fields import at_input_size, checked_settings
from .models.loading import models_dir
from .objectives import feature
from .paths import cache_dir
from .problem import Problem, solve

CHUNK = 64  # swatches per optimizer run: bounds memory, costs nothing in speed on a CPU
VERSION = 2  # part of the cache key: bump when swatches are computed differently (2: FakeReLU gradients)
# The palette's own settings at the 32-px reference size (lengths scale with the input size, as a
# task's do); a model card's task_defaults["palette"] wins over them.
DEFAULTS = {"steps": 16, "step_size": 0.5, "eps": 8.0}


class PaletteCancelled(Exception):
    """`stop` was set before the palette was finished; nothing was cached."""


def feature_palette(model, size: int | None = None, *, steps=None, step_size=None, eps=None,
                    stop: threading.Event | None = None,
                    progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """(D,3,size,size) in [0,1], D = model.meta.num_features; size defaults to the input size.

    Setting `stop` (from another thread) ends the computation within one optimizer step;
    `progress(done, total)` is called after each chunk of swatches.
    """
    size = size or model.meta.input_size
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 8 * model.meta.input_size:
        raise ValueError(f"palette size must be an integer from 8 to {8 * model.meta.input_size}, got {size!r}")
    s = palette_settings(model, steps=steps, step_size=step_size, eps=eps)
    path = palette_path(model, size, s)
    if path.exists():
        return load_file(str(path))["palette"].float()
    d, parts = model.meta.num_features, []
    for a in range(0, d, CHUNK):
        parts.append(_swatches(model, torch.arange(a, min(a + CHUNK, d)), size, s, stop))
        if progress:
            progress(min(a + CHUNK, d), d)
    palette = torch.cat(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")  # atomic: concurrent first requests
    save_file({"palette": palette.half().contiguous()}, str(tmp))
    tmp.replace(path)
    return palette.half().float()  # the same values a later cached call returns


def palette_settings(model, **given) -> dict:
    """DEFAULTS at the model's input size, then the card's "palette" settings, then the given
    (non-None) ones; each checked like the task setting of its name."""
    return checked_settings({**at_input_size(DEFAULTS, model.meta.input_size),
                             **model.meta.task_defaults.get("palette", {}),
                             **{k: v for k, v in given.items() if v is not None}})


def _swatches(model, ks: torch.Tensor, size: int, s: dict, stop: threading.Event | None) -> torch.Tensor:
    x0 = torch.full((len(ks), 3, size, size), 0.5, device=model.device)
    problem = Problem(x0=x0, objective=feature(ks), steps=s["steps"], step_size=float(s["step_size"]),
                      constraint=Ball("l2", float(s["eps"])))
    result = solve(model, problem, callback=(lambda _: stop.is_set()) if stop else None)
    if result.stopped:
        raise PaletteCancelled(f"palette of {model.meta.id!r} cancelled")
    return result.images.detach().float().cpu()


def palette_path(model, size: int, settings: dict) -> Path:
    key = hashlib.sha1(repr((VERSION, size, settings["steps"], settings["step_size"], settings["eps"])).encode())
    for tensor in model.state_dict().values():
        key.update(tensor.detach().cpu().numpy().tobytes())
    name = f"{model.meta.id}.palette{size}-{key.hexdigest()[:10]}.safetensors"
    folder = models_dir()
    if not (folder / f"{model.meta.id}.safetensors").exists() or not os.access(folder, os.W_OK):
        folder = cache_dir() / "palettes"
    return folder / name
