"""Robust accuracy under a well-kept attack library: torchattacks' APGD-CE (Croce and Hein, 2020),
the white-box core of AutoAttack, as the model cards report it beside the project's own PGD.

torchattacks 3.3.0: the same APGD as 3.5.1 (the shipped cards' figures), without 3.5.x's pin of
an old `requests` (it declares no dependencies; scipy, which it imports, is ours).
"""
import torch

from .data import TensorDataset
from .optimizer import fixed_weights

APGD_STEPS = 50


def apgd_ce(model, norm: str, eps: float, steps: int = APGD_STEPS):
    import torchattacks   # imported when needed: it loads scipy
    return torchattacks.APGD(model, norm={"l2": "L2", "linf": "Linf"}[norm], eps=eps, steps=steps, loss="ce", seed=0)


def apgd_accuracy(model, data: TensorDataset, norm: str, eps: float, steps: int = APGD_STEPS,
                  batch_size: int = 100) -> dict:
    """Accuracy of `model` on `data` under APGD-CE, as the card's `accuracy.attacks.apgd_ce`."""
    import torchattacks
    attack = apgd_ce(model, norm, eps, steps)
    correct = 0
    with fixed_weights(model):
        for start in range(0, len(data), batch_size):
            x = data.images[start:start + batch_size].to(model.device).float() / 255
            y = data.labels[start:start + batch_size].to(model.device)
            x_adv = attack(x, y)
            with torch.no_grad():
                correct += int((model(x_adv).argmax(1) == y).sum())
    return {"library": f"torchattacks {torchattacks.__version__}", "norm": norm, "eps": eps, "steps": steps,
            "images": len(data), "acc": correct / max(1, len(data))}
