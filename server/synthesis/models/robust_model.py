"""A classifier over [0,1] pixels: normalization is part of the differentiable model."""
from dataclasses import replace

import torch
from torch import nn
import torch.nn.functional as F

from ..objectives import Outputs
from ..seeds import SeedDistribution
from .folded import folded_copy, refresh
from .meta import ModelMeta
from .resnet import ARCHITECTURES, CifarResNet, ImageNetResNet


class FakeReLU(torch.autograd.Function):
    """ReLU forward, identity backward (the robustness library's `fake_relu`).

    Maximizing a feature that is off (negative before the ReLU) at the brushed pixels has a zero
    gradient through a real ReLU; passing the gradient through lets the optimizer switch it on.
    """

    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        return grad


def build_backbone(meta: ModelMeta) -> nn.Module:
    if meta.arch == "cifar_resnet":
        return CifarResNet(meta.depth, meta.num_classes, meta.width)
    if meta.arch == "imagenet_resnet":
        return ImageNetResNet(meta.depth, meta.num_classes, meta.width, meta.bottleneck_width)
    raise ValueError(f"unknown architecture {meta.arch!r} (known: {', '.join(ARCHITECTURES)})")


class RobustModel(nn.Module):
    """(N,3,H,W) images in [0,1] -> logits; `.features`, `.feature_map`, `.meta` as documented.

    In eval mode with no parameter needing a gradient (as `optimize` runs it), every pass goes
    through a folded copy of the backbone (models/folded.py: batch norm folded, faster input
    gradients), refreshed whenever the weights change; `fast_path = False` turns it off.

    `seeds` is the class-conditional seed distribution that generation starts from (None: the
    model cannot generate); loaders find it beside the weights.
    """

    fast_path = True

    def __init__(self, backbone: nn.Module, meta: ModelMeta, seeds: SeedDistribution | None = None):
        super().__init__()
        self.backbone = backbone
        self.meta = meta
        self.seeds = seeds
        self.feature_names = None  # FeatureNames, when made for these weights (features/names.py)
        self._folded = ((None, None), None)  # ((weights' addresses, versions), folded copy); a plain attribute
        self.register_buffer("mean", torch.tensor(meta.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(meta.std, dtype=torch.float32).view(1, 3, 1, 1))
        if meta.num_features != backbone.num_features:
            raise ValueError(f"the card of {meta.id!r} says {meta.num_features} features but its backbone has "
                             f"{backbone.num_features}: build it with RobustModel.from_meta")

    @classmethod
    def from_meta(cls, meta: ModelMeta, seeds: SeedDistribution | None = None) -> "RobustModel":
        """The model a card describes, with random weights. Its `meta` is a copy of the card with
        `num_features` read off the architecture (a new card need not know it)."""
        backbone = build_backbone(meta)
        return cls(backbone, replace(meta, num_features=backbone.num_features), seeds)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def net(self) -> nn.Module:
        """The backbone to run now: its folded copy when nothing needs parameter gradients."""
        if not self.fast_path or self.training:
            return self.backbone
        # One walk over the modules' own tensor dicts: `parameters()` and `buffers()` cost 4x as much,
        # and this runs at every forward pass.
        tensors = [t for m in self.backbone.modules() for d in (m._parameters, m._buffers) for t in d.values()
                   if t is not None]
        if any(t.requires_grad for t in tensors):
            return self.backbone
        where, versions = tuple(t.data_ptr() for t in tensors), tuple(t._version for t in tensors)
        (built_where, built_versions), net = self._folded
        if where != built_where:          # new tensors (another device or dtype, a new backbone)
            net = folded_copy(self.backbone)
        elif versions != built_versions:  # the same tensors, changed in place (a training step)
            refresh(net, self.backbone)
        self._folded = ((where, versions), net)
        return net

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.net().feature_map(self.normalize(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.feature_map(x), 1).flatten(1)

    def outputs(self, x: torch.Tensor) -> Outputs:
        """Logits, pooled features and the feature map from one forward pass.

        Features and the feature map pass gradients through their final ReLU (FakeReLU); logits
        see the true ReLU, so class scores keep their exact gradient. Values are the same. `stem` is
        the first batch norm's output (before its ReLU), for priors on first-layer statistics.
        """
        net = self.net()
        stem = net.stem(self.normalize(x))
        pre = net.after_stem(stem)
        logits = net.classifier()(F.adaptive_avg_pool2d(F.relu(pre), 1).flatten(1))
        fmap = FakeReLU.apply(pre)
        return Outputs(x=x, logits=logits, features=F.adaptive_avg_pool2d(fmap, 1).flatten(1), feature_map=fmap,
                       stem=stem)

    def stem_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(c,) mean and standard deviation of `Outputs.stem` per channel on the training data, as the
        first batch norm learned them: its bias and |weight| (objectives.stem_prior)."""
        bn = self.backbone.bn1
        return bn.bias.detach(), bn.weight.detach().abs()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net()(self.normalize(x))

    def for_serving(self) -> "RobustModel":
        """Eval mode, no parameter gradients, for good (a served model). Threads that share it (jobs,
        palettes) then cannot race in the optimizer's save-and-restore of requires_grad."""
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    @property
    def device(self) -> torch.device:
        return self.mean.device

    @property
    def has_seeds(self) -> bool:
        """Whether it can generate (loading.Card says the same without the weights)."""
        return self.seeds is not None


def load_weights(net: nn.Module, state: dict, source) -> None:
    """Strict loading, except BatchNorm's num_batches_tracked (unused in eval; old files lack it).

    A clear ValueError naming `source` (a file) for missing, unexpected or misshapen weights.
    """
    expected = {k for k in net.state_dict() if not k.endswith("num_batches_tracked")}
    given = {k for k in state if not k.endswith("num_batches_tracked")}
    missing, unexpected = sorted(expected - given), sorted(given - expected)
    if missing or unexpected:
        raise ValueError(f"{source}: the weights do not fit the model's architecture "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    try:
        net.load_state_dict(state, strict=False)
    except RuntimeError as e:
        mismatch = [line.strip() for line in str(e).splitlines() if "size mismatch" in line]
        raise ValueError(f"{source}: the weights do not fit the model's architecture: "
                         f"{mismatch[0] if mismatch else e}") from None
