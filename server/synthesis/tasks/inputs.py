"""Every task input and setting checked and coerced in one place, before any builder runs.

`coerce_inputs` applies the check of each field's kind to every input of a task (numbers and
choices against their limits, images and masks as tensors in [0,1], class names to indices,
features against the model's width), and `task_settings` does the same for every setting, so a
builder receives valid values and cannot forget a check. Errors are FieldError naming the field.

Images are float (N,3,H,W) or (3,H,W) in [0,1] (or uint8) of any size; masks (N,1,H,W), (1,H,W) or
(H,W) in [0,1] at the image's size, 1 marking the region. Below: the helpers builders share.
"""
import torch
import torch.nn.functional as F

from ..errors import FieldError
from ..fields import Field, check_value, checked_settings
from .registry import DISPLAY_MAX, MAX_BATCH, TaskSpec, task_defaults


def coerce_inputs(model, spec: TaskSpec, args: dict) -> dict:
    """The task's inputs and seed (by Python name) validated and in the form its builder takes:
    images (N,3,H,W) float, masks (N,1,H,W) float at the image's size, classes as indices (None:
    automatic), features checked against the model; lists stay lists where the field takes many."""
    out = {}
    for f in (*spec.inputs, spec.field("seed")):
        value = args[f.arg]
        if value is None:
            out[f.arg] = None
        elif f.kind == "mask" and f.many and isinstance(value, (list, tuple)):
            out[f.arg] = [_coerce(model, f, v, out) for v in value]
        else:
            out[f.arg] = _coerce(model, f, value, out)
    return out


def _coerce(model, f: Field, value, done: dict):
    if f.kind in ("int", "float", "choice"):
        check_value(f, value)
        return value
    if f.kind == "image":
        return as_images(value, f.name)
    if f.kind == "mask":
        image = done["image"]
        return as_mask(value, len(image), tuple(image.shape[2:]))
    if f.kind == "class":
        return _classes(model, value)
    if f.kind == "feature":
        return _check_features(model, value)
    raise ValueError(f"field {f.name!r} has an unknown kind {f.kind!r}")


def task_settings(model, spec: TaskSpec, given: dict, scale: float = 1.0) -> dict:
    """The task's defaults (task_defaults) overridden by the given (non-None) values, every one
    checked against its field's limits."""
    for name in given:
        if name not in spec.settings:
            raise FieldError(name, f"{spec.id} has no setting {name!r}; its settings are {', '.join(spec.settings)}")
    return checked_settings({**task_defaults(model, spec.id, scale), **{k: v for k, v in given.items() if v is not None}})


# ---- classes and features -----------------------------------------------------------------------

def resolve_class(model, name_or_index) -> int:
    """A class index, a class name (case-insensitive) or a digit string -> the class index."""
    classes = model.meta.classes
    value = name_or_index
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, str):
        lower = [c.lower() for c in classes]
        if value.strip().lower() in lower:
            return lower.index(value.strip().lower())
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(classes):
        return value
    raise FieldError("class", f"unknown class {name_or_index!r} for model {model.meta.id!r}: "
                     f"use a name ({', '.join(classes[:12])}{', ...' if len(classes) > 12 else ''}) "
                     f"or an index from 0 to {len(classes) - 1}")


def _classes(model, value) -> int | list[int]:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [resolve_class(model, c) for c in value]
    return resolve_class(model, value)


def labels(classes: int | list[int], n: int) -> torch.Tensor:
    """(n,) class indices: one class for all, or one per example (a list of 1 or n)."""
    if isinstance(classes, list):
        if len(classes) not in (1, n):
            raise FieldError("class", f"got {len(classes)} classes for {n} images")
        return torch.tensor(classes * (n if len(classes) == 1 else 1))
    return torch.full((n,), classes, dtype=torch.long)


def _check_features(model, value):
    """Every feature index (in lists at any depth, or a tensor) in [0, num_features)."""
    values = value.tolist() if isinstance(value, torch.Tensor) else value
    if isinstance(values, (list, tuple)):
        return [_check_features(model, v) for v in values]
    d = model.meta.num_features
    if isinstance(values, bool) or not isinstance(values, int) or not 0 <= values < d:
        raise FieldError("feature", f"unknown feature {values!r}: the model has features 0 to {d - 1}")
    return values


def features(model, values, n: int) -> torch.Tensor:
    """(n,) feature indices: one for all, or one per example (a list of 1 or n)."""
    values = list(values) if isinstance(values, list) else [values] * n
    if len(values) not in (1, n):
        raise FieldError("feature", f"got {len(values)} features for {n} images")
    for k in values:
        if isinstance(k, list):
            raise FieldError("feature", f"unknown feature {k!r}: the model has features 0 to "
                             f"{model.meta.num_features - 1}")
    return torch.tensor(values * (n if len(values) == 1 else 1))


# ---- images and masks ---------------------------------------------------------------------------

def as_images(image, name: str = "image") -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        raise FieldError(name, f"{name} must be a tensor (N,3,H,W) or (3,H,W), got {type(image).__name__}")
    x = image[None] if image.dim() == 3 else image
    if x.dim() != 4 or x.shape[1] != 3 or x.shape[0] == 0 or min(x.shape[2:]) < 1:
        raise FieldError(name, f"{name} must have shape (N,3,H,W) or (3,H,W), got {tuple(image.shape)}")
    if x.shape[0] > MAX_BATCH:
        raise FieldError(name, f"at most {MAX_BATCH} images at once, got {x.shape[0]}")
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    if not torch.isfinite(x).all() or x.min() < -1e-3 or x.max() > 1 + 1e-3:
        raise FieldError(name, f"{name} values must be in [0, 1]")
    return x.clamp(0, 1)


def as_mask(mask, n: int, hw: tuple[int, int]) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise FieldError("mask", f"mask must be a tensor (N,1,H,W) or (H,W), got {type(mask).__name__}")
    m = {2: lambda t: t[None, None], 3: lambda t: t[:, None], 4: lambda t: t}.get(mask.dim(), lambda t: None)(mask)
    if m is None or m.shape[1] != 1 or m.shape[0] not in (1, n):
        raise FieldError("mask", f"mask must have shape (N,1,H,W), (1,H,W) or (H,W), got {tuple(mask.shape)}")
    if tuple(m.shape[2:]) != tuple(hw):
        raise FieldError("mask", f"mask is {m.shape[2]}x{m.shape[3]} but the image is {hw[0]}x{hw[1]}")
    m = m.float() / 255 if m.dtype == torch.uint8 else m.float()
    if not torch.isfinite(m).all() or m.min() < 0 or m.max() > 1:
        raise FieldError("mask", "mask values must be in [0, 1]")
    if (m.flatten(1).sum(1) == 0).any():
        raise FieldError("mask", "mask is empty: mark the region with 1s")
    return m.expand(n, -1, -1, -1)


def resize(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    return F.interpolate(x, size=tuple(hw), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def display_size(hw: tuple[int, int], input_size: int) -> tuple[int, int]:
    """The original aspect ratio, long side clamped to [input_size, DISPLAY_MAX * input_size]."""
    long = max(hw)
    scale = min(max(long, input_size), DISPLAY_MAX * input_size) / long
    return max(1, round(hw[0] * scale)), max(1, round(hw[1] * scale))


def at_model_size(model, x: torch.Tensor) -> torch.Tensor:
    """Images or masks (N,C,H,W) resized to the model's input size, on its device."""
    size = model.meta.input_size
    return resize(x, (size, size)).to(model.device)


@torch.no_grad()
def predict(model, x: torch.Tensor) -> torch.Tensor:
    return model(x.to(model.device)).argmax(1).cpu()
