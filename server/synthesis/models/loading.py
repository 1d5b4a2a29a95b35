"""`load_model`: our own safetensors + model card, or a foreign checkpoint (see checkpoints.py)."""
import os
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..features.names import find_feature_names
from ..seeds import SeedDistribution, seeds_path
from .meta import ModelMeta
from .robust_model import RobustModel, load_weights

DEFAULT_MODEL_ID = "imagenette-rn18w75-l2"
CHECKPOINT_SUFFIXES = {".pt", ".pth", ".ckpt", ".tar", ".bin"}


def models_dir() -> Path:
    """The shipped models: $ROBUST_CANVAS_MODELS, else `models/` at the project root."""
    env = os.environ.get("ROBUST_CANVAS_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "models"


def default_model_id() -> str:
    return os.environ.get("ROBUST_CANVAS_DEFAULT_MODEL", DEFAULT_MODEL_ID)


def served_model_ids() -> list[str]:
    """What `robust-canvas serve` keeps loaded when not told: the default model first, then every
    other shipped robust model (the canvas's model picker); non-robust baselines are for benchmarks."""
    default = default_model_id()
    robust = [i for i in local_model_ids() if i != default and ModelMeta.load(models_dir() / f"{i}.json").norm]
    return [default, *robust]


def local_model_ids() -> list[str]:
    """Ids of the models in `models_dir()` (every card with weights beside it)."""
    d = models_dir()
    return sorted(p.stem for p in d.glob("*.json") if p.with_suffix(".safetensors").exists()) if d.is_dir() else []


def resolve_model_path(name_or_path: str | os.PathLike | None) -> Path:
    """A local id, a pulled registry name, or a file path -> the weights file."""
    name = default_model_id() if name_or_path is None else str(name_or_path)
    local = models_dir() / f"{name}.safetensors"
    if local.exists():
        return local
    path = Path(name).expanduser()
    if path.exists():
        return path
    from .registry import find_pulled
    pulled = find_pulled(name)
    if pulled is not None:
        return pulled
    raise FileNotFoundError(f"unknown model {name!r}: not a shipped model ({', '.join(local_model_ids()) or 'none'}), "
                            "not a file, and not a pulled checkpoint (see `robust-canvas models list`)")


def load_model(name_or_path: str | os.PathLike | None = None, *, device: str | torch.device | None = None,
               **overrides) -> RobustModel:
    """A RobustModel in eval mode: takes (N,3,H,W) images in [0,1], normalizes internally.

    `overrides` set model-card fields a file cannot tell (e.g. dataset, classes, norm, eps).
    """
    path = resolve_model_path(name_or_path)
    if path.suffix == ".safetensors":
        model = _load_own(path, overrides)
    elif path.suffix in CHECKPOINT_SUFFIXES:
        from .checkpoints import load_checkpoint
        model = load_checkpoint(path, **overrides)
    else:
        raise ValueError(f"{path}: unknown model file type {path.suffix!r} "
                         f"(expected .safetensors or one of {sorted(CHECKPOINT_SUFFIXES)})")
    model.seeds = _find_seeds(path, model.meta)
    model.feature_names = find_feature_names(path, model)  # names, linked classes, swatches (features/)
    device = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # Channels-last runs convolutions 15-30% faster on CPU (and on tensor-core GPUs).
    return model.to(device, memory_format=torch.channels_last).eval()


def _load_own(path: Path, overrides: dict) -> RobustModel:
    card = path.with_suffix(".json")
    if not card.exists():
        raise FileNotFoundError(f"{path}: no model card {card.name} beside the weights")
    meta = ModelMeta.from_dict({**ModelMeta.load(card).to_dict(), **overrides})
    model = RobustModel.from_meta(meta)
    state = load_file(str(path))
    load_weights(model, state, path)
    return model


def _find_seeds(path: Path, meta: ModelMeta) -> SeedDistribution | None:
    """Seeds beside the weights, else those of a shipped model with the same classes."""
    beside = seeds_path(path)
    if beside.exists():
        return SeedDistribution.load(beside)
    for model_id in local_model_ids():
        candidate = models_dir() / f"{model_id}.seeds.safetensors"
        if candidate.exists() and ModelMeta.load(models_dir() / f"{model_id}.json").classes == meta.classes:
            return SeedDistribution.load(candidate)
    return None
