"""Shared fixtures: a tiny random CIFAR-shaped model so tests don't depend on trained weights, and
a temporary data dir (the result store) for every module and every test: never the user's own."""
import os
import tempfile

import pytest
import torch

from server.synthesis.models.meta import CIFAR10_CLASSES, CIFAR_MEAN, CIFAR_STD, ModelMeta
from server.synthesis.models.robust_model import RobustModel

torch.set_num_threads(1)
os.environ.setdefault("ROBUST_CANVAS_AMP", "off")  # float32 everywhere, whatever the machine: tests compare values
# Whatever a test starts (a server in a subprocess too) stores its results in a temporary dir.
os.environ["ROBUST_CANVAS_DATA_DIR"] = tempfile.mkdtemp(prefix="robust-canvas-test-data-")
os.environ["XDG_DATA_HOME"] = os.environ["ROBUST_CANVAS_DATA_DIR"]


@pytest.fixture(autouse=True, scope="module")
def _module_data_dir(tmp_path_factory):
    """A data dir per module (its module-scoped servers), so no module's open jobs reach another's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROBUST_CANVAS_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        yield


@pytest.fixture(autouse=True)
def _data_dir(tmp_path_factory, monkeypatch):
    """A data dir per test."""
    monkeypatch.setenv("ROBUST_CANVAS_DATA_DIR", str(tmp_path_factory.mktemp("data")))


def make_tiny_model(seed: int = 0, num_classes: int = 10) -> RobustModel:
    torch.manual_seed(seed)
    meta = ModelMeta(id="tiny", arch="cifar_resnet", depth=18, width=0.125,
                     classes=CIFAR10_CLASSES[:num_classes], mean=list(CIFAR_MEAN), std=list(CIFAR_STD),
                     input_size=32, dataset="cifar10", norm="l2", eps=0.5)
    model = RobustModel.from_meta(meta).eval()
    model.seeds = None
    return model


def count_passes(model) -> list[int]:
    """Record the batch size of every pass through the model's public `outputs` (the optimizer
    makes one per step): what tells a cache hit from a recomputation."""
    passes, outputs = [], model.outputs
    model.outputs = lambda x: passes.append(len(x)) or outputs(x)
    return passes


@pytest.fixture
def tiny_model() -> RobustModel:
    return make_tiny_model()
