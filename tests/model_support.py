"""Helpers shared by the library and CLI tests: models saved as files (ours and the robustness
library's), and one set of inputs for every task."""
from pathlib import Path

import torch
from safetensors.torch import save_file

from server.synthesis.models.robust_model import RobustModel
from server.synthesis.seeds import SeedDistribution, seeds_path


def save_model(model: RobustModel, folder: Path, seeds: SeedDistribution | None = None) -> Path:
    """`model` as a shipped or trained model is stored (loadable by path, or by id from `folder`):
    `<id>.safetensors` and the `<id>.json` card, and `seeds` beside them when given. Returns the weights' path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{model.meta.id}.safetensors"
    save_file({k: v.detach().float().contiguous().cpu() for k, v in model.state_dict().items()
               if not k.endswith("num_batches_tracked")}, str(weights))
    model.meta.save(folder / f"{model.meta.id}.json")
    if seeds is not None:
        seeds.save(seeds_path(weights))
    return weights


def random_seeds(num_classes: int = 10, resolution: int = 8) -> SeedDistribution:
    d = 3 * resolution * resolution
    return SeedDistribution(torch.rand(num_classes, d), 0.1 * torch.eye(d).expand(num_classes, d, d), resolution)


# ---- the robustness library's checkpoints ---------------------------------------------------------

def randomize_batchnorm(net: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial BN statistics, so a wrongly mapped buffer changes the logits."""
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return net.eval()


class Normalizer(torch.nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("new_mean", torch.tensor(mean).view(3, 1, 1))
        self.register_buffer("new_std", torch.tensor(std).view(3, 1, 1))


def robustness_state(classifier: torch.nn.Module, mean, std) -> dict:
    """The state dict of the robustness library's AttackerModel under DataParallel: the classifier is
    both `model` and `attacker.model`, the normalizer both `normalizer` and `attacker.normalize`."""
    attacker, wrapper = torch.nn.Module(), torch.nn.Module()
    attacker.normalize, attacker.model = Normalizer(mean, std), classifier
    wrapper.normalizer, wrapper.model, wrapper.attacker = Normalizer(mean, std), classifier, attacker
    return torch.nn.DataParallel(wrapper).state_dict()


def robustness_checkpoint(classifier, mean, std, key="model") -> dict:
    return {key: robustness_state(classifier, mean, std), "epoch": 150, "schedule": None,
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0, 1]}]},
            "adv_prec1": torch.tensor(70.1)}


# ---- inputs ---------------------------------------------------------------------------------------

def task_inputs(size: int = 32) -> dict[str, dict]:
    """Keyword inputs for `tasks.run` / `tasks.build`, for each task: an 8-bit picture of size x size+8."""
    g = torch.Generator().manual_seed(3)
    image = (torch.rand(3, size, size + 8, generator=g) * 255).round() / 255   # an 8-bit picture
    mask = torch.zeros(size, size + 8)
    mask[8:20, 10:30] = 1
    return {"generate": {"class_": ["cat", "dog"], "n": 2}, "translate": {"image": image, "class_": "dog"},
            "inpaint": {"image": image, "mask": mask}, "superresolve": {"image": image[:, :8, :8], "factor": 4},
            "sketch": {"image": image, "class_": 2},
            "paint": {"image": image, "mask": [mask, 1 - mask], "feature": [3, 5]}}
