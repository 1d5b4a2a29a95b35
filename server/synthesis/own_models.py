"""A person's own model, from their photo folders: `make_own_model`.

The base model's backbone (the shipped photo model by default) already has robust, human-aligned
features (Salman et al., NeurIPS 2020: robust backbones transfer better), so a new head for the
person's classes and a short robust fine-tune make a robust model of them in minutes on a CPU.
The result is a whole model, like a shipped one: weights, a card (classes, held-out clean, PGD
and APGD accuracy, the base, the data's file count and hash, the command, the base's task
defaults), fitted seeds, and named features with swatches and crops from the person's photos.

It is built in `<data dir>/models/.training/<id>/` (where an interrupted run's checkpoint waits
for `resume`) and moved to `<data dir>/models/<id>/` in one rename once whole, so a half model is
never listed, whatever kills the process.
"""
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from . import tasks
from .attacks import apgd_accuracy
from .data import TensorDataset
from .features.describe import describe_features, swatch_sheet
from .features.names import names_path
from .folders import FolderError, PhotoFolders, clean_class_name, read_photo_folders
from .models.loading import (DEFAULT_MODEL_ID, load_model, local_model_ids, own_model_ids, own_models_dir,
                             read_card, resolve_model_path)
from .models.meta import ModelMeta
from .palette import feature_palette
from .recipes import card_hash

from .seeds import fit_seeds, seeds_path
from .training import TrainConfig, TrainProgress, evaluate, train

logger = logging.getLogger(__name__)

# The fine-tune's schedule: a few hundred photos per class finish in minutes on 2 cores
# (docs/BENCHMARKS.md, "Your own model"). The rest (norm, eps, size, normalization) is the base's.
# The per-epoch check is clean accuracy only (the progress bar's); the card gets PGD-20 and APGD-CE.
FINE_TUNE = {"epochs": 12, "batch_size": 32, "lr": 0.05, "warmup_frac": 0.2, "weight_decay": 5e-4,
             "attack_steps": 1, "epoch_eval_steps": 0}
STAGES = ("reading photos", "training", "measuring robustness", "choosing the translation radius", "fitting seeds",
          "naming features", "painting swatches")

# Translation's radius for the person's classes. The base's radius was chosen for its own classes;
# two classes a person picks may lie closer together (deer and horse), and a translation that has
# merely crossed the line between them is an adversarial example, undone by a push no larger than
# the model's ε. So the card's radius is the smallest of these multiples of the base's at which the
# translations of held-out photos *hold*: at least HOLDS of them, toward each class, stay that class
# under a PGD attack at the model's ε (`_translation_radius`; none does: the largest).
RADIUS_LADDER = (1.0, 4 / 3, 5 / 3, 2.0)
HOLDS = 0.95
RADIUS_PHOTOS = 20       # held-out photos per class translated at each radius
RADIUS_ATTACK_STEPS = 10


@dataclass
class OwnModel:
    id: str
    weights: Path
    meta: ModelMeta
    folders: PhotoFolders


def staging_dir(model_id: str, data_dir: Path | None = None) -> Path:
    return own_models_dir(data_dir) / ".training" / model_id


def new_model_id(name: str, data_dir: Path | None = None, *, resuming: bool = False) -> str:
    """`name` cleaned into an id no model has yet (FolderError otherwise); a resumed run keeps its id."""
    model_id = clean_class_name(name)
    if not model_id:
        raise FolderError(f"{name!r} has no letter or digit to name a model by: pass --model-id")
    if model_id in local_model_ids():
        raise FolderError(f"{model_id!r} is a shipped model's id: pass another --model-id")
    if model_id in own_model_ids(data_dir) and not resuming:
        raise FolderError(f"you have a model {model_id!r} already: pass another --model-id, or delete it "
                          f"(robust-canvas models delete {model_id})")
    return model_id


def fine_tune_config(photos: Path, model_id: str, base: str = DEFAULT_MODEL_ID, data_dir: Path | None = None,
                     **given) -> TrainConfig:
    """The run: the base's network, input size, normalization and threat model, FINE_TUNE's schedule,
    then whatever is `given` (None = not given)."""
    card = read_card(base, data_dir).meta
    if card.arch not in ("imagenet_resnet", "cifar_resnet"):
        raise ValueError(f"--init {base}: a {card.arch} cannot be fine-tuned here (a ResNet of ours or of "
                         "torchvision's layout can)")
    inherited = {"arch": card.arch, "depth": card.depth, "width": card.width, "input_size": card.input_size,
                 "mean": list(card.mean), "std": list(card.std), "norm": card.norm or "l2", "eps": card.eps}
    settings = {**inherited, **FINE_TUNE, **{k: v for k, v in given.items() if v is not None}}
    # The base by its file: an own model as the base is found whatever data dir the run was given.
    return TrainConfig(data_dir=str(photos), out_dir=str(staging_dir(model_id, data_dir)), model_id=model_id,
                       init=str(resolve_model_path(base, data_dir)), **settings)


def make_own_model(cfg: TrainConfig, data_dir: Path | None = None, *, folders: PhotoFolders | None = None,
                   resume: bool = False, progress: Callable[[TrainProgress], bool | None] | None = None,
                   stage: Callable[[str], None] | None = None, keep_photos: bool = False) -> OwnModel:
    """Train `cfg` (from `fine_tune_config`), then measure, seed and name it, and publish it whole.

    `keep_photos` moves the photo folder into the model's folder (`photos/`), where the crops of its
    feature names point and whence it goes with the model: for uploads, which have no other home.
    """
    stage = _Timed(stage)
    staging = Path(cfg.out_dir)
    if not resume and staging.exists():
        shutil.rmtree(staging)   # an abandoned run of the same id: started again, as asked
    if resume and (staging / "photos").is_dir() and not Path(cfg.data_dir).exists():
        shutil.move(staging / "photos", cfg.data_dir)   # cut short between keeping the photos and publishing
    stage("reading photos")
    folders = folders or read_photo_folders(Path(cfg.data_dir), cfg.input_size, holdout=cfg.holdout, seed=cfg.seed)
    stage("training")
    train(cfg, resume=resume, folders=folders, progress=progress)
    weights = staging / f"{cfg.model_id}.safetensors"
    model = load_model(weights, device="cpu")
    _complete_card(model, weights, cfg, folders, stage)
    stage("fitting seeds")
    fit_seeds(folders.train).save(seeds_path(weights))
    _name_features(model, folders, weights, stage)
    if keep_photos:
        shutil.move(cfg.data_dir, staging / "photos")
    stage.record(weights.with_suffix(".json"))
    final = publish(staging, cfg.model_id, data_dir)
    return OwnModel(cfg.model_id, final / weights.name, ModelMeta.load(final / f"{cfg.model_id}.json"), folders)


class _Timed:
    """The caller's `stage` callback, timing each stage for the card (`training.stages_s`)."""

    def __init__(self, callback: Callable[[str], None] | None):
        self.callback, self.times, self.current, self.since = callback, {}, None, time.monotonic()

    def __call__(self, name: str) -> None:
        self._close()
        self.current, self.since = name, time.monotonic()
        if self.callback:
            self.callback(name)

    def _close(self) -> None:
        if self.current:
            self.times[self.current] = round(self.times.get(self.current, 0) + time.monotonic() - self.since, 1)

    def record(self, card: Path) -> None:
        self._close()
        self.current = None
        meta = ModelMeta.load(card)
        meta.training["stages_s"] = self.times
        meta.save(card)


def _complete_card(model, weights: Path, cfg: TrainConfig, folders: PhotoFolders, stage) -> None:
    """What `train` wrote, plus APGD on the held-out photos, the base and the base's task defaults."""
    stage("measuring robustness")
    base = read_card(cfg.init).meta
    meta = ModelMeta.load(weights.with_suffix(".json"))
    if meta.norm:
        meta.accuracy["attacks"] = {"images": len(folders.test), "subset": "the held-out photos",
                                    "apgd_ce": apgd_accuracy(model, folders.test, meta.norm, meta.eps)}
    meta.task_defaults = dict(base.task_defaults)
    meta.dataset = Path(cfg.data_dir).name
    meta.source = f"fine-tuned by robust-canvas from {base.id}"
    meta.training["base"] = {"id": base.id, "card_hash": card_hash(base)}
    if "translate" in meta.task_defaults and meta.norm and meta.eps:
        stage("choosing the translation radius")
        model.meta.task_defaults = meta.task_defaults
        meta.task_defaults["translate"], meta.training["translate_radius"] = _translation_radius(model, folders.test)
    meta.save(weights.with_suffix(".json"))


def _translation_radius(model, heldout: TensorDataset) -> tuple[dict, dict]:
    """The translate defaults for the person's classes (see RADIUS_LADDER) and what was measured:
    up to RADIUS_PHOTOS held-out photos of each class, each turned into the next class."""
    picked = torch.cat([(heldout.labels == c).nonzero().flatten()[:RADIUS_PHOTOS] for c in range(len(heldout.classes))])
    x, target = heldout.images[picked].float() / 255, (heldout.labels[picked] + 1) % len(heldout.classes)
    base, resolved = model.meta.task_defaults["translate"], tasks.task_defaults(model, "translate")
    tried = []
    for factor in RADIUS_LADDER:   # the step grows with the radius: the same number of steps reach the ball
        settings = {**base, "eps": round(resolved["eps"] * factor, 2),
                    "step_size": round(resolved["step_size"] * factor, 3)}
        out = tasks.run(model, "translate", image=x, class_=target.tolist(), eps=settings["eps"],
                        step_size=settings["step_size"]).images
        made = TensorDataset((out * 255).round().to(torch.uint8), target, heldout.classes)
        holds = [evaluate(model, _subset(made, target == c), norm=model.meta.norm, eps=model.meta.eps,
                          steps=RADIUS_ATTACK_STEPS)["robust"]["acc"] for c in target.unique().tolist()]
        tried.append({"eps": settings["eps"], "holds": round(min(holds), 3)})
        if min(holds) >= HOLDS:
            break
    return settings, {"rule": f"the smallest radius whose translations of held-out photos stay the target "
                              f"under PGD-{RADIUS_ATTACK_STEPS} at the model's eps, at least {HOLDS:.0%} toward "
                              f"each class", "photos": len(picked), "tried": tried}


def _subset(data: TensorDataset, keep: torch.Tensor) -> TensorDataset:
    return TensorDataset(data.images[keep], data.labels[keep], data.classes)


def _name_features(model, folders: PhotoFolders, weights: Path, stage) -> None:
    """Names, crops and swatches, as `robust-canvas features name` makes them, from every photo."""
    stage("naming features")
    model = load_model(weights, device="cpu").for_serving()   # the card as completed
    photos = TensorDataset(torch.cat([folders.train.images, folders.test.images]),
                           torch.cat([folders.train.labels, folders.test.labels]), folders.classes)
    names, crops = describe_features(model, photos, folders.train_files + folders.test_files)
    names.source["data"] = model.meta.dataset
    stage("painting swatches")
    swatches = feature_palette(model)
    names.source["swatches"] = True
    names.save(names_path(weights), swatch_sheet(names, swatches, crops, min(56, model.meta.input_size)))


def publish(staging: Path, model_id: str, data_dir: Path | None) -> Path:
    """The whole model built in `staging` moved to `<data dir>/models/<id>/`, in one rename."""
    (staging / "checkpoint.pt").unlink(missing_ok=True)
    final = own_models_dir(data_dir) / model_id
    if final.exists():
        raise FolderError(f"a model {model_id!r} appeared while this one trained: it is kept in {staging}")
    os.replace(staging, final)   # one rename: the model is listed whole or not at all
    return final


def delete_own_model(model_id: str, data_dir: Path | None = None) -> None:
    """Remove an own model's folder (LookupError when there is none; shipped models are not own)."""
    if model_id not in own_model_ids(data_dir):
        raise LookupError(f"no model {model_id!r} of your own (yours: {', '.join(own_model_ids(data_dir)) or 'none'})")
    folder = own_models_dir(data_dir) / model_id
    trash = folder.with_name(f".deleting-{model_id}-{os.getpid()}")
    os.replace(folder, trash)   # unlisted at once, then removed
    shutil.rmtree(trash, ignore_errors=True)
