"""Realism and variety of generated images, measured in a judge classifier's penultimate features:
Fréchet distance to real images, precision and recall of the two sets (Kynkäänniemi et al., 2019:
k-nearest-neighbour balls around each set's points), and diversity within a class."""
import torch


@torch.no_grad()
def features(model, x: torch.Tensor, batch: int = 250) -> torch.Tensor:
    """(N,D) pooled penultimate features of `model` (anything with `.outputs(x).features`)."""
    return torch.cat([model.outputs(x[i:i + batch].to(model.device)).features.float().cpu()
                      for i in range(0, len(x), batch)])


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """FID between Gaussians fitted to two feature sets (N,D), (M,D); sqrtm by eigen-decomposition:
    tr sqrt(C1 C2) = sum of sqrt(eigenvalues of C1^1/2 C2 C1^1/2)."""
    a, b = a.double(), b.double()
    c1, c2 = torch.cov(a.T), torch.cov(b.T)
    e, v = torch.linalg.eigh(c1)
    root1 = (v * e.clamp_min(0).sqrt()) @ v.T
    cross = torch.linalg.eigvalsh(root1 @ c2 @ root1).clamp_min(0).sqrt().sum()
    return ((a.mean(0) - b.mean(0)).pow(2).sum() + c1.trace() + c2.trace() - 2 * cross).item()


def precision_recall(fake: torch.Tensor, real: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Precision: share of fakes inside some real point's k-NN ball (realism); recall: share of
    reals inside some fake point's ball (coverage of the real variety)."""
    def radii(f):
        return torch.cdist(f, f).kthvalue(k + 1, dim=1).values   # +1: each point is its own nearest
    cross = torch.cdist(fake, real)
    precision = (cross <= radii(real)[None]).any(1).float().mean().item()
    recall = (cross.T <= radii(fake)[None]).any(1).float().mean().item()
    return precision, recall


def within_class_distance(f: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean pairwise distance between members of one class, averaged over classes."""
    return torch.stack([torch.pdist(f[labels == c]).mean() for c in labels.unique()
                        if (labels == c).sum() > 1]).mean().item()
