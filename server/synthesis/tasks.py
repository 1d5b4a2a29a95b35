"""The six tasks of Santurkar et al. (2019), each a seed plus an objective for the one optimizer.

A task is `<task>_problem(...) -> Problem` (what to solve), `solve` / `solve_batch` (problem.py),
then `finish(model, problem, result) -> TaskOutput` (display-ready images); the plain functions
`generate`, `translate`, ... chain the three.

Images are float (N,3,H,W) or (3,H,W) in [0,1] of any size. Tasks that work at the model's
resolution resize them to input_size x input_size (squashing the aspect ratio); `finish` resizes
results back to the original aspect ratio, the long side clamped to [input_size, 8*input_size].
Super-resolution instead runs the model at the upsampled size (the ResNet pools adaptively).
Masks are (N,1,H,W), (1,H,W) or (H,W) in [0,1] at the image's size; 1 marks the region.
Defaults come from `model.meta.task_defaults[task]` (see `task_defaults`).
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .fill import FILLS
from .objectives import Objective, class_score, masked_mse, seam
from .optimizer import Callback, Result
from .problem import Problem, solve
from .steps import RULES

MAX_STEPS = 5000
MAX_BATCH = 1024
DISPLAY_MAX = 8  # results are at most this many times the model's input size on their long side
# Tuned on the 32-px CIFAR-10 model (docs/TASKS.md). A card without task_defaults gets these with
# eps and step size scaled by input_size/32: an L2 radius grows with sqrt(pixel count). `rule` and
# `patience`: the update rule (steps.RULES) and early stopping (optimizer.optimize); inpainting's
# `fill` and `known`: see inpaint_problem.
REFERENCE_SIZE = 32
REFERENCE_DEFAULTS = {
    "generate": {"steps": 20, "step_size": 1.0, "eps": 30.0, "rule": "momentum", "patience": 3, "temperature": 2.0},
    "translate": {"steps": 30, "step_size": 0.5, "eps": 6.0, "rule": "pgd", "patience": 3},
    "inpaint": {"steps": 20, "step_size": 0.2, "eps": 1.0, "penalty_weight": 10.0, "rule": "momentum", "patience": 3,
                "fill": "harmonic", "known": "exact"},
    "superresolve": {"steps": 30, "step_size": 0.6, "eps": 4.0, "rule": "pgd", "patience": 3},
    "sketch": {"steps": 30, "step_size": 1.0, "eps": 10.0, "rule": "pgd", "patience": 0},
    "paint": {"steps": 30, "step_size": 1.0, "eps": 10.0, "feature_weight": 0.1, "penalty_weight": 90.0,
              "rule": "momentum", "patience": 0},
    "palette": {"steps": 16, "step_size": 0.5, "eps": 8.0},
}
_SCALED = ("step_size", "eps")
KNOWN = ("exact", "penalty")      # how inpainting keeps the known pixels (FILLS: how it starts the hole)


class TaskInputError(ValueError):
    """A task's input is invalid; `field` names the argument at fault (the API reports it)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class TaskOutput:
    images: torch.Tensor      # (N,3,H,W) in [0,1] at display size
    classes: list[int]        # the model's prediction on each result
    class_names: list[str]
    scores: list[float]       # final objective per image
    trace: torch.Tensor       # (N, steps_done + 1) objective per step
    stopped: bool             # the callback asked to stop early


# ---- defaults and validation -------------------------------------------------------------------

def task_defaults(model, task: str) -> dict:
    """The card's settings for `task`, completed from the size-scaled reference table."""
    if task not in REFERENCE_DEFAULTS:
        raise TaskInputError("task", f"unknown task {task!r}; choose one of {list(REFERENCE_DEFAULTS)}")
    scale = model.meta.input_size / REFERENCE_SIZE
    fallback = {k: v * scale if k in _SCALED else v for k, v in REFERENCE_DEFAULTS[task].items()}
    return {**fallback, **(model.meta.task_defaults or {}).get(task, {})}


def task_settings(model, task: str, steps=None, step_size=None, eps=None, **weights) -> dict:
    """Defaults overridden by the given (non-None) values, validated."""
    given = {"steps": steps, "step_size": step_size, "eps": eps, **weights}
    s = {**task_defaults(model, task), **{k: v for k, v in given.items() if v is not None}}
    if isinstance(s["steps"], bool) or int(s["steps"]) != s["steps"] or not 0 <= s["steps"] <= MAX_STEPS:
        raise TaskInputError("steps", f"steps must be an integer from 0 to {MAX_STEPS}, got {s['steps']!r}")
    s["steps"] = int(s["steps"])
    for k in ("step_size", "eps", *weights):
        if not (isinstance(s[k], (int, float)) and 0 <= s[k] < float("inf")):
            raise TaskInputError(k, f"{k} must be a finite non-negative number, got {s[k]!r}")
    if s["step_size"] <= 0:
        raise TaskInputError("step_size", f"step_size must be positive, got {s['step_size']!r}")
    for key, allowed in (("rule", RULES), ("fill", FILLS), ("known", KNOWN)):
        if key in s and s[key] not in allowed:
            raise TaskInputError(key, f"{key} must be one of {sorted(allowed)}, got {s[key]!r}")
    if "patience" in s and (isinstance(s["patience"], bool) or not isinstance(s["patience"], int) or s["patience"] < 0):
        raise TaskInputError("patience", f"patience must be a non-negative integer, got {s['patience']!r}")
    return s


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
    raise TaskInputError("class", f"unknown class {name_or_index!r} for model {model.meta.id!r}: "
                     f"use a name ({', '.join(classes[:12])}{', ...' if len(classes) > 12 else ''}) "
                     f"or an index from 0 to {len(classes) - 1}")


def _labels(model, class_, n: int) -> torch.Tensor:
    """One class per example: a single class for all, or a sequence of n classes."""
    if isinstance(class_, torch.Tensor):
        class_ = class_.tolist()
    if isinstance(class_, (list, tuple)):
        if len(class_) not in (1, n):
            raise TaskInputError("class", f"got {len(class_)} classes for {n} images")
        return torch.tensor([resolve_class(model, c) for c in class_] * (n if len(class_) == 1 else 1))
    return torch.full((n,), resolve_class(model, class_), dtype=torch.long)


def _features(model, feature, n: int) -> torch.Tensor:
    values = feature.tolist() if isinstance(feature, torch.Tensor) else feature
    values = list(values) if isinstance(values, (list, tuple)) else [values] * n
    d = model.meta.num_features
    if len(values) not in (1, n):
        raise TaskInputError("feature", f"got {len(values)} features for {n} images")
    for k in values:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < d:
            raise TaskInputError("feature", f"unknown feature {k!r}: the model has features 0 to {d - 1}")
    return torch.tensor(values * (n if len(values) == 1 else 1))


def _as_images(image, name: str = "image") -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        raise TaskInputError(name, f"{name} must be a tensor (N,3,H,W) or (3,H,W), got {type(image).__name__}")
    x = image[None] if image.dim() == 3 else image
    if x.dim() != 4 or x.shape[1] != 3 or x.shape[0] == 0 or min(x.shape[2:]) < 1:
        raise TaskInputError(name, f"{name} must have shape (N,3,H,W) or (3,H,W), got {tuple(image.shape)}")
    if x.shape[0] > MAX_BATCH:
        raise TaskInputError(name, f"at most {MAX_BATCH} images at once, got {x.shape[0]}")
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    if not torch.isfinite(x).all() or x.min() < -1e-3 or x.max() > 1 + 1e-3:
        raise TaskInputError(name, f"{name} values must be in [0, 1]")
    return x.clamp(0, 1)


def _as_mask(mask, n: int, hw: tuple[int, int]) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise TaskInputError("mask", f"mask must be a tensor (N,1,H,W) or (H,W), got {type(mask).__name__}")
    m = {2: lambda t: t[None, None], 3: lambda t: t[:, None], 4: lambda t: t}.get(mask.dim(), lambda t: None)(mask)
    if m is None or m.shape[1] != 1 or m.shape[0] not in (1, n):
        raise TaskInputError("mask", f"mask must have shape (N,1,H,W), (1,H,W) or (H,W), got {tuple(mask.shape)}")
    if tuple(m.shape[2:]) != tuple(hw):
        raise TaskInputError("mask", f"mask is {m.shape[2]}x{m.shape[3]} but the image is {hw[0]}x{hw[1]}")
    m = m.float() / 255 if m.dtype == torch.uint8 else m.float()
    if not torch.isfinite(m).all() or m.min() < 0 or m.max() > 1:
        raise TaskInputError("mask", "mask values must be in [0, 1]")
    if (m.flatten(1).sum(1) == 0).any():
        raise TaskInputError("mask", "mask is empty: mark the region with 1s")
    return m.expand(n, -1, -1, -1)


def _resize(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    return F.interpolate(x, size=tuple(hw), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def _display_size(hw: tuple[int, int], input_size: int) -> tuple[int, int]:
    """The original aspect ratio, long side clamped to [input_size, DISPLAY_MAX * input_size]."""
    long = max(hw)
    scale = min(max(long, input_size), DISPLAY_MAX * input_size) / long
    return max(1, round(hw[0] * scale)), max(1, round(hw[1] * scale))


def _prepare(model, image, name: str = "image") -> tuple[torch.Tensor, tuple[int, int], tuple[int, int]]:
    """Images at the model's resolution on its device, their original size and their display size."""
    x = _as_images(image, name)
    size, hw = model.meta.input_size, tuple(x.shape[2:])
    return _resize(x, (size, size)).to(model.device), hw, _display_size(hw, size)


def _prepare_mask(model, mask, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    size = model.meta.input_size
    return _resize(_as_mask(mask, len(x), hw), (size, size)).to(x.device)


@torch.no_grad()
def _predict(model, x: torch.Tensor) -> torch.Tensor:
    return model(x.to(model.device)).argmax(1).cpu()


def _problem(x0, objective, s: dict, seed: int, info: dict, center=None, free=None) -> Problem:
    return Problem(x0=x0, objective=objective, steps=s["steps"], step_size=float(s["step_size"]),
                   eps=float(s["eps"]), constraint="l2", center=center, seed=seed, info=info,
                   rule=s.get("rule", "pgd"), patience=s.get("patience", 0), free=free)


# ---- problems -----------------------------------------------------------------------------------

def generate_problem(model, class_, n: int = 1, *, steps=None, step_size=None, eps=None, seed: int = 0) -> Problem:
    """n samples per class: class-conditional Gaussian seeds (spread scaled by the card's
    `temperature`), then class maximization."""
    if model.seeds is None:
        raise TaskInputError("model", f"model {model.meta.id!r} has no seed distribution for generation: "
                         "run `robust-canvas fit-seeds` to fit one from its training images")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_BATCH:
        raise TaskInputError("n", f"n must be an integer from 1 to {MAX_BATCH}, got {n!r}")
    s = task_settings(model, "generate", steps, step_size, eps)
    if not 0 < s.get("temperature", 1.0) < float("inf"):
        raise TaskInputError("temperature", f"temperature must be a positive number, got {s['temperature']!r}")
    wanted = class_ if isinstance(class_, (list, tuple, torch.Tensor)) else [class_]
    classes = _labels(model, wanted, len(wanted)).tolist()
    if len(classes) * n > MAX_BATCH:
        raise TaskInputError("n", f"at most {MAX_BATCH} images at once, got {len(classes) * n}")
    gen = torch.Generator().manual_seed(seed)
    size = model.meta.input_size
    x0 = torch.cat([model.seeds.sample(c, n, size, gen, s.get("temperature", 1.0)) for c in classes]).to(model.device)
    labels = torch.tensor(classes).repeat_interleave(n)
    return _problem(x0, class_score(labels), s, seed, {"task": "generate", "labels": labels,
                                                       "display_size": (size, size)})


def _class_in_ball(model, task: str, image, class_, steps, step_size, eps, seed) -> Problem:
    """Maximize a class in an L2 ball around the (resized) image: translation and sketches."""
    x, _, display = _prepare(model, image, "sketch" if task == "sketch" else "image")
    labels = _labels(model, class_, len(x))
    s = task_settings(model, task, steps, step_size, eps)
    return _problem(x, class_score(labels), s, seed, {"task": task, "labels": labels, "display_size": display})


def translate_problem(model, image, target_class, *, steps=None, step_size=None, eps=None, seed: int = 0) -> Problem:
    """Image-to-image translation: the target class, within eps of the source."""
    return _class_in_ball(model, "translate", image, target_class, steps, step_size, eps, seed)


def sketch_problem(model, sketch, class_, *, steps=None, step_size=None, eps=None, seed: int = 0) -> Problem:
    """Sketch-to-image: the class, starting from and centred on the drawing."""
    return _class_in_ball(model, "sketch", sketch, class_, steps, step_size, eps, seed)


def inpaint_problem(model, image, mask, class_=None, *, steps=None, step_size=None, eps=None, weight=None,
                    seed: int = 0) -> Problem:
    """Fill the masked region so that it belongs to the class and meets its border without a seam.

    With the card's `"known": "exact"` the pixels outside the hole never change (the optimizer
    moves only the hole) and the objective is class score minus `weight` (default the card's
    `penalty_weight`) times the colour jumps across the hole's edge (`objectives.seam`); with
    `"penalty"` (the paper's) the known pixels are held by that weight times their squared
    distance. The hole starts from the card's `fill` (fill.FILLS): 'harmonic' (smooth from its
    border) or 'mean' (the mean colour of the known pixels). The class is given, or the model's
    prediction on that start.
    """
    x, hw, display = _prepare(model, image)
    m = _prepare_mask(model, mask, x, hw)
    s = task_settings(model, "inpaint", steps, step_size, eps, penalty_weight=weight)
    exact = s.get("known", "penalty") == "exact"
    hole = m > 0 if exact else m
    x0 = FILLS[s.get("fill", "mean")](x, hole)
    labels = _predict(model, x0) if class_ is None else _labels(model, class_, len(x))
    if exact:
        objective = class_score(labels) - s["penalty_weight"] * seam(hole)
    else:
        objective = class_score(labels) - s["penalty_weight"] * masked_mse(x, 1 - m)
    info = {"task": "inpaint", "labels": labels, "mask": m.cpu(), "original": x.cpu(), "display_size": display}
    if exact and tuple(display) == tuple(hw):   # results keep the given pixels at the given size too
        info["known"] = (_as_images(image), _as_mask(mask, len(x), hw) == 0)
    return _problem(x0, objective, s, seed, info, free=hole if exact else None)


def superresolve_problem(model, image, factor: int = 4, class_=None, *, steps=None, step_size=None, eps=None,
                         seed: int = 0) -> Problem:
    """Nearest upsampling by `factor`, then class maximization in a small ball, at the new size.

    Default eps and step size scale with the output's side relative to the model's input size.
    """
    x = _as_images(image)
    if isinstance(factor, bool) or not isinstance(factor, int) or not 2 <= factor <= 8:
        raise TaskInputError("factor", f"factor must be an integer from 2 to 8, got {factor!r}")
    out = (x.shape[2] * factor, x.shape[3] * factor)
    size = model.meta.input_size
    if max(out) > DISPLAY_MAX * size:
        raise TaskInputError("factor", f"the result would be {out[0]}x{out[1]}; at most {DISPLAY_MAX * size} "
                             "pixels a side for this model: downscale the image or use a smaller factor")
    x0 = F.interpolate(x, scale_factor=factor, mode="nearest").to(model.device)
    labels = _predict(model, x0) if class_ is None else _labels(model, class_, len(x))
    scale = (out[0] * out[1]) ** 0.5 / size
    d = task_defaults(model, "superresolve")
    s = task_settings(model, "superresolve", steps, step_size if step_size is not None else d["step_size"] * scale,
                  eps if eps is not None else d["eps"] * scale)
    return _problem(x0, class_score(labels), s, seed, {"task": "superresolve", "labels": labels,
                                                       "display_size": out})


def paint_problem(model, image, mask, feature, *, steps=None, step_size=None, eps=None, feature_weight=None,
                  penalty_weight=None, seed: int = 0) -> Problem:
    """Paint with features: raise feature k inside the brushed region, keep the rest in place.

    Several strokes at once: `mask` and `feature` as equal-length lists; the penalty then holds
    everything outside all strokes.
    """
    x, hw, display = _prepare(model, image)
    strokes = list(zip(mask, feature)) if isinstance(mask, (list, tuple)) else [(mask, feature)]
    if isinstance(mask, (list, tuple)) and (not isinstance(feature, (list, tuple)) or len(mask) != len(feature)):
        raise TaskInputError("feature", "several strokes need as many features as masks")
    if not strokes:
        raise TaskInputError("mask", "paint needs at least one stroke")
    s = task_settings(model, "paint", steps, step_size, eps, feature_weight=feature_weight, penalty_weight=penalty_weight)
    outside = torch.ones_like(x[:, :1])
    objective = None
    for stroke_mask, k in strokes:
        region = _prepare_mask(model, stroke_mask, x, hw)
        outside = outside * (1 - region)
        term = s["feature_weight"] * feature_in_region(_features(model, k, len(x)), region)
        objective = term if objective is None else objective + term
    objective = objective - s["penalty_weight"] * masked_mse(x, outside)
    return _problem(x, objective, s, seed, {"task": "paint", "display_size": display})


def feature_in_region(ks: torch.Tensor, region: torch.Tensor | None = None) -> Objective:
    """Component ks[i] of example i's representation: pooled, or averaged over region i."""
    def fn(o):
        rows = torch.arange(len(ks), device=o.x.device)
        if region is None:
            return o.features[rows, ks.to(o.x.device)]
        weights = F.adaptive_avg_pool2d(region.to(o.x), o.feature_map.shape[-2:])[:, 0]
        fmap = o.feature_map[rows, ks.to(o.x.device)]
        return (fmap * weights).flatten(1).sum(1) / weights.flatten(1).sum(1).clamp_min(1e-6)

    return Objective(fn, "feature(k, region)" if region is not None else "feature(k)")


PROBLEMS = {"generate": generate_problem, "translate": translate_problem, "inpaint": inpaint_problem,
            "superresolve": superresolve_problem, "sketch": sketch_problem, "paint": paint_problem}


# ---- results ------------------------------------------------------------------------------------

def finish(model, problem: Problem, result: Result) -> TaskOutput:
    """Results at display size, with the model's verdict on each."""
    classes = _predict(model, result.images).tolist()
    images = _resize(result.images.detach().float().cpu(), problem.info["display_size"])
    if "known" in problem.info:
        original, known = problem.info["known"]
        images = torch.where(known, original, images)
    return TaskOutput(images=images,
                      classes=classes, class_names=[model.meta.classes[c] for c in classes],
                      scores=result.trace[:, -1].tolist(), trace=result.trace.cpu(), stopped=result.stopped)


def _run(model, problem: Problem, callback: Callback | None) -> TaskOutput:
    return finish(model, problem, solve(model, problem, callback))


def generate(model, class_, n: int = 1, *, steps=None, step_size=None, eps=None, seed: int = 0,
             callback: Callback | None = None) -> TaskOutput:
    return _run(model, generate_problem(model, class_, n, steps=steps, step_size=step_size, eps=eps, seed=seed),
                callback)


def translate(model, image, target_class, *, steps=None, step_size=None, eps=None, seed: int = 0,
              callback: Callback | None = None) -> TaskOutput:
    return _run(model, translate_problem(model, image, target_class, steps=steps, step_size=step_size, eps=eps,
                                         seed=seed), callback)


def inpaint(model, image, mask, class_=None, *, steps=None, step_size=None, eps=None, weight=None, seed: int = 0,
            callback: Callback | None = None) -> TaskOutput:
    return _run(model, inpaint_problem(model, image, mask, class_, steps=steps, step_size=step_size, eps=eps,
                                       weight=weight, seed=seed), callback)


def superresolve(model, image, factor: int = 4, class_=None, *, steps=None, step_size=None, eps=None,
                 seed: int = 0, callback: Callback | None = None) -> TaskOutput:
    return _run(model, superresolve_problem(model, image, factor, class_, steps=steps, step_size=step_size, eps=eps,
                                            seed=seed), callback)


def sketch_to_image(model, sketch, class_, *, steps=None, step_size=None, eps=None, seed: int = 0,
                    callback: Callback | None = None) -> TaskOutput:
    return _run(model, sketch_problem(model, sketch, class_, steps=steps, step_size=step_size, eps=eps, seed=seed),
                callback)


def paint_features(model, image, mask, feature, *, steps=None, step_size=None, eps=None, feature_weight=None,
                   penalty_weight=None, seed: int = 0, callback: Callback | None = None) -> TaskOutput:
    return _run(model, paint_problem(model, image, mask, feature, steps=steps, step_size=step_size, eps=eps,
                                     feature_weight=feature_weight, penalty_weight=penalty_weight, seed=seed),
                callback)
