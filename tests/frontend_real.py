"""The real API app for the browser tests and the screenshots.

`tiny_app()` serves two tiny random models (32 px and 16 px, so a model switch changes the
canvas resolution) with a flat seed distribution, fast enough for browser tests on a CPU.
`trained_app()` serves the shipped default model when its weights exist, else None.
"""
import dataclasses

import torch

from server.api.app import create_app
from server.api.settings import Settings
from server.synthesis.models.robust_model import RobustModel
from server.synthesis.seeds import SeedDistribution
from tests.conftest import make_tiny_model

SEED_RESOLUTION = 4
# Few steps keep the browser tests quick; a test that needs a long job asks for more.
QUICK_DEFAULTS = {task: {"steps": 8} for task in
                  ("generate", "translate", "inpaint", "superresolve", "sketch", "paint", "palette")}


def flat_seeds(num_classes: int) -> SeedDistribution:
    """Grey seeds with a little noise: enough for `generate` without fitting real images."""
    d = 3 * SEED_RESOLUTION ** 2
    return SeedDistribution(mean=torch.full((num_classes, d), 0.5),
                            scale_tril=0.15 * torch.eye(d).expand(num_classes, d, d).clone(),
                            resolution=SEED_RESOLUTION)


def tiny_models() -> dict[str, RobustModel]:
    big = make_tiny_model()
    small = RobustModel.from_meta(dataclasses.replace(big.meta, id="tiny-16px", input_size=16)).eval()
    for model in (big, small):
        model.meta.task_defaults = QUICK_DEFAULTS
        model.seeds = flat_seeds(len(model.meta.classes))
    return {m.meta.id: m for m in (big, small)}


def tiny_app(**settings):
    """The real app on tiny models; `settings` override Settings fields (e.g. preview_every)."""
    return create_app(Settings(**settings), models=tiny_models())


def trained_app():
    """The real app on the shipped default model, or None while its weights are missing."""
    from server.synthesis.models.loading import DEFAULT_MODEL_ID, resolve_model_path
    try:
        resolve_model_path(DEFAULT_MODEL_ID)
    except (FileNotFoundError, ValueError):
        return None
    return create_app(Settings(model_ids=(DEFAULT_MODEL_ID,)))
