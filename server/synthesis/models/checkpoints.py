"""Foreign checkpoints -> RobustModel, reading weights only (never unpickling code).

Two layouts are understood:
(b) the robustness library (MadryLab): {"model" (legacy: "state_dict"): {...}, "epoch", "optimizer", ...}
    whose keys are `module.normalizer.new_mean/new_std` (shape (3,1,1)), `module.model.<classifier>`,
    and a copy of both under `module.attacker.{model,normalize}` that only its attacks used (ignored here).
(c) a plain torchvision ResNet state dict, maybe `module.`-prefixed or wrapped in {"state_dict"|"model": ...}.
The classifier is the robustness CIFAR ResNet (conv1/bn1/layerN/shortcut/linear: our CifarResNet's names)
or torchvision's ImageNet ResNet (downsample/fc: our ImageNetResNet's names). Architecture, width and class count come from the
tensors, the dataset from the normalizer's mean/std; what a file cannot tell comes from `overrides`.
"""
import json
import pickle
import re
import zipfile
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import torch

from .meta import (CIFAR10_CLASSES, CIFAR_MEAN, CIFAR_STD, IMAGENET_MEAN, IMAGENET_STD,
                   RESTRICTED_IMAGENET_CLASSES, RESTRICTED_IMAGENET_MEAN, RESTRICTED_IMAGENET_STD, ModelMeta)
from .registry import card_overrides
from .robust_model import RobustModel, load_weights

# (block, blocks per stage) -> depth; the same table for both namings.
DEPTH_OF = {("basic", (2, 2, 2, 2)): 18, ("basic", (3, 4, 6, 3)): 34, ("bottleneck", (3, 4, 6, 3)): 50,
            ("bottleneck", (3, 4, 23, 3)): 101, ("bottleneck", (3, 8, 36, 3)): 152}
INFERRED = {"arch", "depth", "width", "bottleneck_width", "num_features"}  # read from the tensors, never overridden
STATE_KEYS = ("model", "state_dict")  # where a wrapped state dict lives; "model" first, as robustness does
# name -> (mean, std, classes (None: ImageNet's 1000), input size), as the robustness library's datasets.py
DATASETS = {"cifar10": (CIFAR_MEAN, CIFAR_STD, CIFAR10_CLASSES, 32),
            "imagenet": (IMAGENET_MEAN, IMAGENET_STD, None, 224),
            "restricted_imagenet": (RESTRICTED_IMAGENET_MEAN, RESTRICTED_IMAGENET_STD,
                                    RESTRICTED_IMAGENET_CLASSES, 224)}
KNOWN_DATASETS = tuple(DATASETS)


@cache
def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names, in label order (from torchvision's weights metadata)."""
    return json.loads((Path(__file__).with_name("imagenet_classes.json")).read_text())


def dataset_defaults(name: str) -> dict | None:
    """mean, std, classes and input size of a dataset the robustness library trained on, or None."""
    if name not in DATASETS:
        return None
    mean, std, classes, size = DATASETS[name]
    return {"mean": list(mean), "std": list(std), "classes": list(classes or imagenet_classes()), "input_size": size}


@dataclass
class Architecture:
    arch: str        # ModelMeta.arch: 'cifar_resnet' or 'imagenet_resnet'
    depth: int
    width: float
    num_classes: int
    bottleneck_width: float = 1.0


def load_checkpoint(path, **overrides) -> RobustModel:
    """A RobustModel from a robustness-library checkpoint or a torchvision ResNet state dict.

    `overrides` set model-card fields the file cannot tell (dataset, classes, mean, std, input_size, norm,
    eps, accuracy, id, ...); a checkpoint pulled from the registry also gets the registry's card.
    """
    path = Path(path)
    hints = {**card_overrides(path), **overrides}
    _check_hints(hints)
    state, extras = _find_state_dict(_read(path), path)
    classifier, normalizer, layout = _split_layout(_strip_prefix(state, "module."))
    arch = infer_architecture(classifier, path)
    card = {"id": path.stem, "source": f"{layout} checkpoint {path.name}",
            "training": {"epoch": extras["epoch"]} if isinstance(extras.get("epoch"), int) else {}}
    data = _describe_data(arch, normalizer, hints, path)
    meta = ModelMeta.from_dict({**card, **hints, **data, "arch": arch.arch, "depth": arch.depth, "width": arch.width,
                                "bottleneck_width": arch.bottleneck_width})
    model = RobustModel.from_meta(meta)
    load_weights(model.backbone, classifier, path)
    return model.eval()


def _check_hints(hints: dict) -> None:
    allowed = {f.name for f in fields(ModelMeta)} - INFERRED
    bad = sorted(set(hints) - allowed)
    if bad:
        read = sorted(set(bad) & INFERRED)
        why = f"{read} are read from the weights" if read else f"known: {sorted(allowed)}"
        raise ValueError(f"unknown model-card override(s) {bad} ({why})")


def _read(path: Path):
    """torch.load with weights_only=True: tensors and plain containers, no arbitrary objects."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if not found:
            reason = re.search(r"WeightsUnpickler error:\s*(.+)", str(e))
            raise ValueError(f"{path}: not a readable PyTorch checkpoint "
                             f"({reason.group(1) if reason else str(e).splitlines()[0]})") from None
        raise ValueError(f"{path}: refused to load: it references the Python object {found.group(1)!r}, not just "
                         "tensors and plain containers, and checkpoints are never allowed to run code; if you "
                         "trust the file, re-save its state dict alone with torch.save(model.state_dict(), ...)"
                         ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({str(e).splitlines()[0]})") from None


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _find_state_dict(obj, path: Path) -> tuple[dict, dict]:
    """(state dict, the other top-level entries) of a bare or wrapped state dict."""
    if _is_state_dict(obj):
        return obj, {}
    if isinstance(obj, dict):
        for key in STATE_KEYS:
            if _is_state_dict(obj.get(key)):
                return obj[key], obj
        keys = ", ".join(map(repr, list(obj)[:8]))
        raise ValueError(f"{path}: no state dict found: expected tensors at the top level or under "
                         f"{' or '.join(map(repr, STATE_KEYS))}; the file has keys {keys}")
    raise ValueError(f"{path}: no state dict found: the file holds a {type(obj).__name__}, not a dict of tensors")


def _strip_prefix(state: dict, prefix: str) -> dict:
    """DataParallel's `module.` prefix off every key that has it."""
    return {k.removeprefix(prefix): v for k, v in state.items()}


def _split_layout(state: dict) -> tuple[dict, tuple | None, str]:
    """(classifier state, (mean, std) from a robustness normalizer or None, layout name)."""
    if "normalizer.new_mean" not in state or "normalizer.new_std" not in state:
        return state, None, "state-dict"
    mean, std = (state[f"normalizer.new_{k}"].flatten() for k in ("mean", "std"))
    if mean.numel() != 3 or std.numel() != 3:
        raise ValueError(f"robustness normalizer has {mean.numel()} channels; expected 3")
    classifier = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    # Shortest decimals that round-trip to the same float32: 0.4914, not 0.49140000343322754.
    shortest = ([float(str(v)) for v in t.float().numpy()] for t in (mean, std))
    return classifier, tuple(shortest), "robustness-library"


def infer_architecture(state: dict, path: Path | str = "checkpoint") -> Architecture:
    """Naming, depth, width and class count of a ResNet state dict (no prefixes)."""
    if "linear.weight" in state and "layer1.0.conv1.weight" in state:
        arch, head = "cifar_resnet", "linear"
    elif "fc.weight" in state and "layer1.0.conv1.weight" in state:
        arch, head = "imagenet_resnet", "fc"
    else:
        sample = ", ".join(list(state)[:6])
        raise ValueError(f"{path}: unrecognised layout: not a ResNet with robustness-library CIFAR names (conv1, "
                         f"layer1..4, linear) or torchvision names (conv1, layer1..4, fc); keys: {sample}, ...")
    block = "bottleneck" if "layer1.0.conv3.weight" in state else "basic"
    counts = tuple(_num_blocks(state, stage) for stage in (1, 2, 3, 4))
    depth = DEPTH_OF.get((block, counts))
    if depth is None:
        raise ValueError(f"{path}: unsupported ResNet: {block} blocks {list(counts)} per stage")
    # The stem has 64*width channels; wide bottleneck nets also widen the blocks' inner convolutions.
    width = state["conv1.weight"].shape[0] / 64
    bottleneck_width = state["layer1.0.conv1.weight"].shape[0] / (64 * width) if block == "bottleneck" else 1.0
    return Architecture(arch, depth, width, state[f"{head}.weight"].shape[0], bottleneck_width)


def _num_blocks(state: dict, stage: int) -> int:
    found = {int(m.group(1)) for k in state if (m := re.match(rf"layer{stage}\.(\d+)\.", k))}
    return max(found) + 1 if found else 0


def _describe_data(arch: Architecture, normalizer: tuple | None, hints: dict, path: Path) -> dict:
    """dataset, mean, std, classes, input_size: hints first, then the file, then the dataset's defaults."""
    dataset = hints.get("dataset") or _guess_dataset(arch, normalizer)
    known = dataset_defaults(dataset) if dataset else None
    if hints.get("dataset") and known is None and "classes" not in hints:
        raise ValueError(f"unknown dataset {dataset!r} (known: {', '.join(KNOWN_DATASETS)}); pass classes=[...]")
    known = known or {}
    mean, std = hints.get("mean"), hints.get("std")
    if mean is None or std is None:
        mean, std = normalizer or (known.get("mean"), known.get("std"))
    classes = hints.get("classes") or known.get("classes")
    n = arch.num_classes
    if classes is None:
        raise ValueError(f"{path}: cannot tell the names of its {n} classes: pass dataset= "
                         f"(one of {', '.join(KNOWN_DATASETS)}) or classes=[...]")
    if len(classes) != n:
        given = "were given" if "classes" in hints else f"belong to dataset {dataset!r}"
        raise ValueError(f"{path}: the classifier has {n} outputs but {len(classes)} class names {given}")
    if mean is None:
        raise ValueError(f"{path}: cannot tell the input normalization: pass dataset= or mean=[..] and std=[..]")
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ValueError(f"mean and std need 3 values each, std positive; got {list(mean)}, {list(std)}")
    size = hints.get("input_size") or known.get("input_size") or (32 if arch.arch == "cifar_resnet" else 224)
    return {"dataset": dataset or "custom", "mean": list(mean), "std": list(std), "classes": list(classes),
            "input_size": int(size)}


def _guess_dataset(arch: Architecture, normalizer: tuple | None) -> str | None:
    """The known dataset whose normalization and class count fit; torchvision's 1000-way nets are ImageNet."""
    if normalizer is None:
        return "imagenet" if arch.arch == "imagenet_resnet" and arch.num_classes == 1000 else None
    for name in KNOWN_DATASETS:
        d = dataset_defaults(name)
        close = all(abs(a - b) < 1e-3 for a, b in zip(normalizer[0] + normalizer[1], d["mean"] + d["std"]))
        if close and len(d["classes"]) == arch.num_classes:
            return name
    return None
