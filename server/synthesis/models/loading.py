"""`load_model`: our own safetensors + model card, or a foreign checkpoint (see checkpoints.py);
`read_card`: the same model's card alone, without its weights (a `Card`: what a Ray front end holds)."""
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ..features.names import FeatureNames, find_feature_names, find_names, weight_fingerprint
from ..paths import data_dir as default_data_dir
from ..seeds import SeedDistribution, seeds_path
from .meta import ModelMeta
from .robust_model import RobustModel, build_backbone, load_weights

DEFAULT_MODEL_ID = "imagenette-rn18w75-l2"
CHECKPOINT_SUFFIXES = {".pt", ".pth", ".ckpt", ".tar", ".bin"}


def models_dir() -> Path:
    """The shipped models: $ROBUST_CANVAS_MODELS, else `models/` at the project root."""
    env = os.environ.get("ROBUST_CANVAS_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "models"


def default_model_id() -> str:
    return os.environ.get("ROBUST_CANVAS_DEFAULT_MODEL", DEFAULT_MODEL_ID)


def served_model_ids(data_dir: Path | None = None) -> list[str]:
    """What `robust-canvas serve` keeps loaded when not told: the default model first, then every
    other shipped robust model (the canvas's model picker; non-robust baselines are for benchmarks),
    then a person's own models in the data dir."""
    default = default_model_id()
    robust = [i for i in local_model_ids() if i != default and ModelMeta.load(models_dir() / f"{i}.json").norm]
    return [default, *robust, *own_model_ids(data_dir)]


def own_models_dir(data_dir: Path | None = None) -> Path:
    """A person's own models (`robust-canvas train FOLDER --init BASE`): `<data dir>/models/<id>/`,
    each folder a whole model (weights, card, seeds, feature names), never in the project's tree."""
    return Path(data_dir or default_data_dir()) / "models"


def own_model_ids(data_dir: Path | None = None) -> list[str]:
    """Ids of the finished own models: a folder holds one once its card and weights are in place
    (a training in progress lives elsewhere, so a half model is never listed)."""
    root = own_models_dir(data_dir)
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if not d.name.startswith(".")
                  and (d / f"{d.name}.json").is_file() and (d / f"{d.name}.safetensors").is_file())


def local_model_ids() -> list[str]:
    """Ids of the models in `models_dir()` (every card with weights beside it)."""
    d = models_dir()
    return sorted(p.stem for p in d.glob("*.json") if p.with_suffix(".safetensors").exists()) if d.is_dir() else []


def resolve_model_path(name_or_path: str | os.PathLike | None, data_dir: Path | None = None) -> Path:
    """A shipped id, an own model's id (in `data_dir`), a pulled registry name, or a file path -> the weights file."""
    name = default_model_id() if name_or_path is None else str(name_or_path)
    local = models_dir() / f"{name}.safetensors"
    if local.exists():
        return local
    if name in own_model_ids(data_dir):
        return own_models_dir(data_dir) / name / f"{name}.safetensors"
    path = Path(name).expanduser()
    if path.exists():
        return path
    from .registry import find_pulled
    pulled = find_pulled(name)
    if pulled is not None:
        return pulled
    raise FileNotFoundError(f"unknown model {name!r}: not a shipped model ({', '.join(local_model_ids()) or 'none'}), "
                            f"not one of your own ({', '.join(own_model_ids(data_dir)) or 'none'}), not a file, "
                            "and not a pulled checkpoint (see `robust-canvas models list`)")


def load_model(name_or_path: str | os.PathLike | None = None, *, device: str | torch.device | None = None,
               data_dir: Path | None = None, **overrides) -> RobustModel:
    """A RobustModel in eval mode: takes (N,3,H,W) images in [0,1], normalizes internally.

    `data_dir` is where own models are looked for (default: the data dir, `paths.data_dir`);
    `overrides` set model-card fields a file cannot tell (e.g. dataset, classes, norm, eps).
    """
    path = resolve_model_path(name_or_path, data_dir)
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


@dataclass(frozen=True)
class Card:
    """A model known by its card alone: what `load_model(source)` would give, without the weights.

    `meta` equals the loaded model's (`card_hash` too), `has_seeds` says whether it can generate;
    `source` is the name or path `load_model` takes (None for a card taken off a model in memory);
    `feature_names` the loaded model's, read from their file alone. Enough to check a task's inputs
    (`tasks.check`, features by name too) and to describe the model (GET /api/models).
    """

    meta: ModelMeta
    has_seeds: bool
    source: str | None = None
    feature_names: FeatureNames | None = field(default=None, compare=False)

    @classmethod
    def of(cls, model: RobustModel) -> "Card":
        return cls(model.meta, model.has_seeds, feature_names=model.feature_names)


def read_card(name_or_path: str | os.PathLike | None = None, data_dir: Path | None = None) -> Card:
    """The card of what `load_model(name_or_path)` loads, without building the model or reading our
    weights files. A foreign checkpoint has no card beside it: its card is inferred from its weights,
    so those are read (and dropped) here."""
    path = resolve_model_path(name_or_path, data_dir)
    if path.suffix == ".safetensors":
        meta = _own_meta(path, {})
        names = find_names(path, meta, lambda: weight_fingerprint(_classifier_weight(path, meta)))
    else:
        model = load_model(path, device="cpu")
        meta, names = model.meta, model.feature_names
    source = default_model_id() if name_or_path is None else str(name_or_path)
    return Card(meta, _seeds_file(path, meta) is not None, source, names)


def _classifier_weight(path: Path, meta: ModelMeta) -> torch.Tensor:
    """The last layer's weight tensor, read alone from our weights file (what feature names are checked against)."""
    with torch.device("meta"):   # the architecture's names, no weights
        backbone = build_backbone(meta)
    name = next(k for k, p in backbone.named_parameters() if p is backbone.classifier().weight)
    with safe_open(str(path), "pt") as weights:
        return weights.get_tensor(f"backbone.{name}")   # as RobustModel's state dict names it


def _own_meta(path: Path, overrides: dict) -> ModelMeta:
    """The card beside our weights, with the overrides, and `num_features` as the built model has it
    (read off the architecture, built on torch's "meta" device: no memory, no weights)."""
    card = path.with_suffix(".json")
    if not card.exists():
        raise FileNotFoundError(f"{path}: no model card {card.name} beside the weights")
    meta = ModelMeta.from_dict({**ModelMeta.load(card).to_dict(), **overrides})
    with torch.device("meta"):
        return replace(meta, num_features=build_backbone(meta).num_features)


def _load_own(path: Path, overrides: dict) -> RobustModel:
    meta = _own_meta(path, overrides)
    model = RobustModel.from_meta(meta)
    state = load_file(str(path))
    load_weights(model, state, path)
    return model


def _find_seeds(path: Path, meta: ModelMeta) -> SeedDistribution | None:
    found = _seeds_file(path, meta)
    return None if found is None else SeedDistribution.load(found)


def _seeds_file(path: Path, meta: ModelMeta) -> Path | None:
    """Seeds beside the weights, else those of a shipped model with the same classes."""
    beside = seeds_path(path)
    if beside.exists():
        return beside
    for model_id in local_model_ids():
        candidate = models_dir() / f"{model_id}.seeds.safetensors"
        if candidate.exists() and ModelMeta.load(models_dir() / f"{model_id}.json").classes == meta.classes:
            return candidate
    return None
