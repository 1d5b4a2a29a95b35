"""Class-conditional seed distributions for generation: a full-covariance Gaussian per class,
fitted to the training images at a low resolution and upsampled to the model's input size.

Stored beside the model weights as `<stem>.seeds.safetensors`: `mean` (C,D) float32 and
`scale_tril` (C,D,D) float16, the Cholesky factor of each class covariance (D = 3*r*r).
"""
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .data import TensorDataset


@dataclass
class SeedDistribution:
    mean: torch.Tensor        # (C, 3*r*r) in [0,1] pixel units
    scale_tril: torch.Tensor  # (C, D, D)
    resolution: int

    def sample(self, class_idx: int, n: int, size: int, generator: torch.Generator,
               temperature: float = 1.0) -> torch.Tensor:
        """n seeds of one class, (n,3,size,size) in [0,1]; `temperature` scales the spread around
        the class mean (1 = the fitted covariance)."""
        d = self.mean.shape[1]
        z = temperature * torch.randn(n, d, generator=generator)
        x = self.mean[class_idx] + z @ self.scale_tril[class_idx].float().T
        x = x.view(n, 3, self.resolution, self.resolution)
        if size != self.resolution:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return x.clamp(0, 1)

    def save(self, path: Path) -> None:
        save_file({"mean": self.mean.float().contiguous(), "scale_tril": self.scale_tril.half().contiguous()},
                  str(path), metadata={"resolution": str(self.resolution)})

    @classmethod
    def load(cls, path: Path) -> "SeedDistribution":
        from safetensors import safe_open
        with safe_open(str(path), "pt") as f:
            resolution = int(f.metadata()["resolution"])
        t = load_file(str(path))
        return cls(t["mean"], t["scale_tril"], resolution)


def fit_seeds(data: TensorDataset, resolution: int = 16, ridge: float = 1e-3) -> SeedDistribution:
    """Per class: mean and covariance of the images at `resolution`, plus ridge*I for definiteness."""
    means, trils = [], []
    for c in range(len(data.classes)):
        x = data.images[data.labels == c].float() / 255
        if len(x) < 2:
            raise ValueError(f"class {data.classes[c]!r} needs at least 2 images to fit a covariance")
        x = F.interpolate(x, size=(resolution, resolution), mode="area").flatten(1).double()
        mu = x.mean(0)
        cov = torch.cov(x.T) + ridge * torch.eye(x.shape[1], dtype=x.dtype)
        means.append(mu.float())
        trils.append(torch.linalg.cholesky(cov).float())
    return SeedDistribution(torch.stack(means), torch.stack(trils), resolution)


def seeds_path(weights_path: Path) -> Path:
    p = Path(weights_path)
    return p.with_name(p.name.split(".")[0] + ".seeds.safetensors")
