"""RobustModel's outputs: one forward pass, the same values as the plain calls, usable gradients."""
import pytest
import torch

from server.synthesis.models.meta import CIFAR10_CLASSES, IMAGENET_MEAN, IMAGENET_STD, ModelMeta
from server.synthesis.models.robust_model import RobustModel
from tests.conftest import make_tiny_model


def _imagenet_layout_model() -> RobustModel:
    torch.manual_seed(0)
    meta = ModelMeta(id="tv", arch="imagenet_resnet", depth=18, classes=CIFAR10_CLASSES,
                     mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), input_size=64)
    return RobustModel.from_meta(meta).eval()


@pytest.mark.parametrize("make", [make_tiny_model, _imagenet_layout_model], ids=["cifar_resnet", "imagenet_resnet"])
def test_outputs_equal_the_separate_calls(make):
    model = make()
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        o = model.outputs(x)
        torch.testing.assert_close(o.logits, model(x))
        torch.testing.assert_close(o.features, model.features(x))
        torch.testing.assert_close(o.feature_map, model.feature_map(x))


@pytest.mark.parametrize("make", [make_tiny_model, _imagenet_layout_model], ids=["cifar_resnet", "imagenet_resnet"])
def test_a_feature_that_is_off_still_gets_a_gradient(make):
    """Paint-with-features must be able to switch on a feature that is zero where it paints."""
    model = make()
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    fmap = model.outputs(x).feature_map
    k, i, j = (fmap[0] == 0).nonzero()[0].tolist()  # a feature that is off at one position
    (grad,) = torch.autograd.grad(fmap[0, k, i, j], x)
    assert grad.abs().sum() > 0
    (plain,) = torch.autograd.grad(model.feature_map(x)[0, k, i, j], x)
    assert plain.abs().sum() == 0  # the true ReLU would give nothing to climb


@pytest.mark.parametrize("name,depth,bottleneck_width", [("resnet18", 18, 1.0), ("resnet50", 50, 1.0),
                                                         ("wide_resnet50_2", 50, 2.0)])
def test_imagenet_layout_is_torchvisions_resnet_key_for_key(name, depth, bottleneck_width):
    """One class serves our photo models and torchvision / robustness-library ImageNet checkpoints."""
    import torchvision
    from server.synthesis.models.resnet import ImageNetResNet
    with torch.device("meta"):
        ours = ImageNetResNet(depth, 5, bottleneck_width=bottleneck_width).state_dict()
        theirs = getattr(torchvision.models, name)(num_classes=5).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}


def test_width_scales_every_stage_of_the_imagenet_layout():
    from server.synthesis.models.resnet import ImageNetResNet
    half = ImageNetResNet(18, 10, width=0.5)
    assert half.conv1.out_channels == 32 and half.fc.in_features == 256 and half.num_features == 256


def test_cards_written_before_the_layouts_were_renamed_still_load():
    meta = ModelMeta.from_dict({"id": "old", "arch": "torchvision_resnet", "depth": 18, "classes": ["a", "b"],
                                "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "input_size": 64})
    assert meta.arch == "imagenet_resnet" and type(RobustModel.from_meta(meta).backbone).__name__ == "ImageNetResNet"
