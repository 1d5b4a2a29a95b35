"""A classifier over [0,1] pixels: normalization is part of the differentiable model."""
import torch
from torch import nn
import torch.nn.functional as F

from ..objectives import Outputs
from .meta import ModelMeta
from .resnet import CifarResNet


class TorchvisionBackbone(nn.Module):
    """Adapts a torchvision ResNet to the `feature_map` / `classifier` interface."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.num_features = net.fc.in_features

    def feature_map(self, x):
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        return n.layer4(n.layer3(n.layer2(n.layer1(x))))

    def classifier(self) -> nn.Linear:
        return self.net.fc

    def forward(self, x):
        return self.net(x)


def build_backbone(meta: ModelMeta) -> nn.Module:
    if meta.arch == "cifar_resnet":
        return CifarResNet(meta.depth, meta.num_classes, meta.width)
    if meta.arch == "torchvision_resnet":
        from torchvision.models import resnet
        name = f"resnet{meta.depth}" if meta.width == 1 else f"wide_resnet{meta.depth}_{meta.width:g}"
        return TorchvisionBackbone(getattr(resnet, name)(num_classes=meta.num_classes))
    raise ValueError(f"unknown architecture {meta.arch!r}")


class RobustModel(nn.Module):
    """(N,3,H,W) images in [0,1] -> logits; `.features`, `.feature_map`, `.meta` as documented."""

    def __init__(self, backbone: nn.Module, meta: ModelMeta):
        super().__init__()
        self.backbone = backbone
        self.meta = meta
        self.register_buffer("mean", torch.tensor(meta.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(meta.std, dtype=torch.float32).view(1, 3, 1, 1))
        meta.num_features = backbone.num_features

    @classmethod
    def from_meta(cls, meta: ModelMeta) -> "RobustModel":
        return cls(build_backbone(meta), meta)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.feature_map(self.normalize(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.feature_map(x), 1).flatten(1)

    def outputs(self, x: torch.Tensor) -> Outputs:
        """Logits, pooled features and the feature map from one forward pass."""
        fmap = self.feature_map(x)
        feats = F.adaptive_avg_pool2d(fmap, 1).flatten(1)
        return Outputs(x=x, logits=self.backbone.classifier()(feats), features=feats, feature_map=fmap)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalize(x))

    @property
    def device(self) -> torch.device:
        return self.mean.device
