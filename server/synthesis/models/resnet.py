"""CIFAR-style ResNets, with the module names of the robustness library's `cifar_models`.

Keeping its names (conv1/bn1/layer*/shortcut/linear) lets one class load both our own
weights and the robustness library's CIFAR checkpoints without key renaming.
Differences from that file: a width multiplier, and adaptive average pooling so the model
also runs on images larger than 32 px (super-resolution); at 32 px the output is identical.
"""
import torch
from torch import nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x):
        return F.relu(self.pre_activation(x))

    def pre_activation(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out)) + self.shortcut(x)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x):
        return F.relu(self.pre_activation(x))

    def pre_activation(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out)) + self.shortcut(x)


def _shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    if stride == 1 and in_planes == out_planes:
        return nn.Sequential()
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride, bias=False), nn.BatchNorm2d(out_planes))


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}
DEPTHS = {18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]),
          50: ("bottleneck", [3, 4, 6, 3]), 101: ("bottleneck", [3, 4, 23, 3]), 152: ("bottleneck", [3, 8, 36, 3])}


class CifarResNet(nn.Module):
    """(N,3,H,W) normalized input -> logits; `feature_map` is the last stage before pooling."""

    def __init__(self, depth: int = 18, num_classes: int = 10, width: float = 1.0):
        super().__init__()
        block_name, num_blocks = DEPTHS[depth]
        block = BLOCKS[block_name]
        widths = [int(w * width) for w in (64, 128, 256, 512)]
        self.in_planes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.layer1 = self._make_layer(block, widths[0], num_blocks[0], 1)
        self.layer2 = self._make_layer(block, widths[1], num_blocks[1], 2)
        self.layer3 = self._make_layer(block, widths[2], num_blocks[2], 2)
        self.layer4 = self._make_layer(block, widths[3], num_blocks[3], 2)
        self.num_features = widths[3] * block.expansion
        self.linear = nn.Linear(self.num_features, num_classes)

    def _make_layer(self, block, planes: int, n: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.pre_activation_map(x))

    def pre_activation_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's output before its final ReLU (for FakeReLU, see robust_model.py)."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4[:-1](self.layer3(self.layer2(self.layer1(out))))
        return self.layer4[-1].pre_activation(out)

    def classifier(self) -> nn.Linear:
        return self.linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(F.adaptive_avg_pool2d(self.feature_map(x), 1).flatten(1))
