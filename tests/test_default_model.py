"""The shipped default model: its card, its weights, its seeds, and that it classifies CIFAR-10."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from server.synthesis import load_model
from server.synthesis.models.loading import DEFAULT_MODEL_ID, local_model_ids, models_dir

CIFAR_TEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10" / "test"


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads((models_dir() / f"{DEFAULT_MODEL_ID}.json").read_text())


def test_default_model_is_shipped_with_weights_card_and_seeds():
    assert DEFAULT_MODEL_ID in local_model_ids()
    assert (models_dir() / f"{DEFAULT_MODEL_ID}.seeds.safetensors").exists()


def test_card_records_accuracy_on_the_full_test_set_above_the_bar(card):
    acc = card["accuracy"]
    assert acc["images"] == 10000
    assert acc["clean"] >= 0.80
    assert acc["robust"]["norm"] == "l2" and acc["robust"]["eps"] == 0.5 and acc["robust"]["steps"] == 20
    assert acc["robust"]["acc"] >= 0.55


def test_card_records_how_to_reproduce_it(card):
    training = card["training"]
    assert training["command"].startswith("robust-canvas train ")
    assert "--eps 0.5" in training["command"] and training["train_time_s"] > 0
    assert len(training["log"]) == training["epochs"]
    assert card["norm"] == "l2" and card["eps"] == 0.5 and card["input_size"] == 32
    assert set(card["task_defaults"]) >= {"generate", "translate", "inpaint", "superresolve", "sketch", "paint"}


def _test_images(per_class: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    classes = sorted(d.name for d in CIFAR_TEST.iterdir())
    images, labels = [], []
    for c, name in enumerate(classes):
        for path in sorted((CIFAR_TEST / name).iterdir())[:per_class]:
            images.append(np.asarray(Image.open(path).convert("RGB")))
            labels.append(c)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    return x, torch.tensor(labels), classes


@pytest.mark.skipif(not CIFAR_TEST.is_dir(), reason="CIFAR-10 test images not found at ../shared/data/cifar10")
def test_default_model_classifies_real_test_images(card):
    model = load_model(device="cpu")
    x, y, classes = _test_images(per_class=10)
    assert model.meta.classes == classes
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy >= 0.7  # 100 images: the card's 80%+ less a margin for sampling noise
