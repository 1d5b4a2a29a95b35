"""The two ResNet layouts, each with a width multiplier and the module names of the files it loads.

- `CifarResNet`: 3x3 stem at full resolution, the robustness library's `cifar_models` names
  (conv1/bn1/layer*/shortcut/linear), so our CIFAR weights and its CIFAR checkpoints load alike.
  Adaptive average pooling lets it run on images larger than 32 px (super-resolution).
- `ImageNetResNet`: 7x7 stride-2 stem and max-pool (input side / 32 at the last stage), torchvision's
  names (downsample/fc), so our photo models, torchvision's ResNets and the robustness library's
  ImageNet checkpoints load alike. At width 1 it is torchvision's resnet18..152 (and wide_resnet*_2
  with bottleneck_width 2), key for key and logit for logit.
"""
import torch
from torch import nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock as TvBasicBlock, Bottleneck as TvBottleneck


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


class ResNetHead:
    """What both layouts share between their stages and their logits. A layout has `conv1` and `bn1`
    (its stem), `after_stem` (its stages) and `classifier()` (its last linear layer, under the name its
    files use), so this adds no module and every state-dict name stays the layout's own."""

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.pre_activation_map(x))

    def pre_activation_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's output before its final ReLU (for FakeReLU, see robust_model.py)."""
        return self.after_stem(self.stem(x))

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """The first batch norm's output, before its ReLU."""
        return self.bn1(self.conv1(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier()(F.adaptive_avg_pool2d(self.feature_map(x), 1).flatten(1))


class CifarResNet(ResNetHead, nn.Module):
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

    def after_stem(self, s: torch.Tensor) -> torch.Tensor:
        """pre_activation_map from the stem's output."""
        out = self.layer4[:-1](self.layer3(self.layer2(self.layer1(F.relu(s)))))
        return self.layer4[-1].pre_activation(out)

    def classifier(self) -> nn.Linear:
        return self.linear


class ImageNetResNet(ResNetHead, nn.Module):
    """(N,3,H,W) normalized input -> logits, in torchvision's layout and names, any width.

    `width` scales every stage (stem 64*width channels); `bottleneck_width` widens only the inner
    3x3 convolution of bottleneck blocks, as torchvision's wide_resnet50_2 does (2.0).
    """

    def __init__(self, depth: int = 18, num_classes: int = 1000, width: float = 1.0, bottleneck_width: float = 1.0):
        super().__init__()
        block_name, num_blocks = DEPTHS[depth]
        block = {"basic": TvBasicBlock, "bottleneck": TvBottleneck}[block_name]
        if block is TvBasicBlock and bottleneck_width != 1:
            raise ValueError("bottleneck_width applies to bottleneck ResNets (depth 50 and more) only")
        self.base_width = int(64 * bottleneck_width)
        widths = [int(w * width) for w in (64, 128, 256, 512)]
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, widths[0], num_blocks[0], 1)
        self.layer2 = self._make_layer(block, widths[1], num_blocks[1], 2)
        self.layer3 = self._make_layer(block, widths[2], num_blocks[2], 2)
        self.layer4 = self._make_layer(block, widths[3], num_blocks[3], 2)
        self.num_features = widths[3] * block.expansion
        self.fc = nn.Linear(self.num_features, num_classes)
        for m in self.modules():  # torchvision's initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block, planes: int, n: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (n - 1):
            downsample = None
            if s != 1 or self.inplanes != planes * block.expansion:
                downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, s, bias=False),
                                           nn.BatchNorm2d(planes * block.expansion))
            extra = {"base_width": self.base_width} if block is TvBottleneck else {}
            layers.append(block(self.inplanes, planes, s, downsample, **extra))
            self.inplanes = planes * block.expansion
        return nn.Sequential(*layers)

    def after_stem(self, s: torch.Tensor) -> torch.Tensor:
        """pre_activation_map from the stem's output (torchvision's last block forward, unrolled)."""
        x = self.maxpool(self.relu(s))
        x = self.layer4[:-1](self.layer3(self.layer2(self.layer1(x))))
        block = self.layer4[-1]
        identity = x if block.downsample is None else block.downsample(x)
        out = block.relu(block.bn1(block.conv1(x)))
        if isinstance(block, TvBottleneck):
            out = block.bn3(block.conv3(block.relu(block.bn2(block.conv2(out)))))
        else:
            out = block.bn2(block.conv2(out))
        return out + identity

    def classifier(self) -> nn.Linear:
        return self.fc


ARCHITECTURES = {"cifar_resnet": CifarResNet, "imagenet_resnet": ImageNetResNet}
