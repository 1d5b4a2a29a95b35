"""Shared fixtures: a tiny random CIFAR-shaped model so tests don't depend on trained weights."""
import os

import pytest
import torch

from server.synthesis.models.meta import CIFAR10_CLASSES, CIFAR_MEAN, CIFAR_STD, ModelMeta
from server.synthesis.models.robust_model import RobustModel

torch.set_num_threads(1)
os.environ.setdefault("ROBUST_CANVAS_AMP", "off")  # float32 everywhere, whatever the machine: tests compare values


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
