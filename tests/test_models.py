"""RobustModel's outputs: one forward pass, the same values as the plain calls, usable gradients."""
import pytest
import torch

from server.synthesis.models.meta import CIFAR10_CLASSES, IMAGENET_MEAN, IMAGENET_STD, ModelMeta
from server.synthesis.models.robust_model import RobustModel
from tests.conftest import make_tiny_model


def _torchvision_model() -> RobustModel:
    torch.manual_seed(0)
    meta = ModelMeta(id="tv", arch="torchvision_resnet", depth=18, classes=CIFAR10_CLASSES,
                     mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), input_size=64)
    return RobustModel.from_meta(meta).eval()


@pytest.mark.parametrize("make", [make_tiny_model, _torchvision_model], ids=["cifar_resnet", "torchvision"])
def test_outputs_equal_the_separate_calls(make):
    model = make()
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        o = model.outputs(x)
        torch.testing.assert_close(o.logits, model(x))
        torch.testing.assert_close(o.features, model.features(x))
        torch.testing.assert_close(o.feature_map, model.feature_map(x))


@pytest.mark.parametrize("make", [make_tiny_model, _torchvision_model], ids=["cifar_resnet", "torchvision"])
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
