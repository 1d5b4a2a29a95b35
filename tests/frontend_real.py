"""The real API app for the browser tests and the screenshots.

`tiny_app()` serves three tiny random models (32 px, the default; 16 px; and 128 px, the size of
the shipped photo model, so a model switch changes the canvas resolution) with a flat seed
distribution, fast enough for browser tests on a CPU.
`trained_app()` serves the shipped default model (and the shipped CIFAR-10 model beside it in the
model picker) when its weights exist, else None.
"""
import dataclasses
import tempfile
from pathlib import Path

import torch

from server.api.app import create_app
from server.settings import Settings
from server.synthesis.models.robust_model import RobustModel
from server.synthesis.seeds import SeedDistribution
from tests.conftest import make_tiny_model
from tests.named_support import name_tiny

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
    """The same tiny random network at three input sizes: 32 px (the default), 16 px and 128 px."""
    default = make_tiny_model()
    resized = [RobustModel.from_meta(dataclasses.replace(default.meta, id=f"tiny-{n}px", input_size=n)).eval()
               for n in (16, 128)]
    for model in (default, *resized):
        model.meta.task_defaults = QUICK_DEFAULTS
        model.seeds = flat_seeds(len(model.meta.classes))
    name_tiny(default, Path(tempfile.mkdtemp(prefix="tiny-names-")))  # a named palette, as the shipped models have
    return {m.meta.id: m for m in (default, *resized)}


def tiny_app(**settings):
    """The real app on tiny models; `settings` override Settings fields (e.g. preview_every).
    Palettes are computed when the page asks for them, not warmed at start-up: a warming thread
    still busy when a short run exits aborts the interpreter (the app's shutdown does not wait for it);
    a request waits for its palette (a real server answers 503 with Retry-After after 2 s, which the
    browser logs as a console error)."""
    return create_app(Settings(**{"warm_palettes": False, "palette_wait_s": 120, **settings}), models=tiny_models())


CIFAR_MODEL_ID = "cifar10-rn18h-l2"


def trained_app():
    """The real app on the shipped default model (first: the page opens on it) and the shipped
    CIFAR-10 model, or None while the default model's weights are missing."""
    from server.synthesis.models.loading import DEFAULT_MODEL_ID, resolve_model_path

    def shipped(model_id):
        try:
            resolve_model_path(model_id)
            return True
        except (FileNotFoundError, ValueError):
            return False
    if not shipped(DEFAULT_MODEL_ID):
        return None
    extra = (CIFAR_MODEL_ID,) if CIFAR_MODEL_ID != DEFAULT_MODEL_ID and shipped(CIFAR_MODEL_ID) else ()
    return create_app(Settings(model_ids=(DEFAULT_MODEL_ID, *extra)))
