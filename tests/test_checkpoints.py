"""Foreign checkpoints: each format is built here with random weights, saved, loaded with load_model,
and its logits compared with an independent computation of the original architecture."""
import pathlib
import pickle
import types

import pytest
import torch
import torchvision

from server.synthesis import load_model
from server.synthesis.models.checkpoints import imagenet_classes, infer_architecture
from server.synthesis.models.meta import (CIFAR10_CLASSES, CIFAR_MEAN, CIFAR_STD, IMAGENET_MEAN, IMAGENET_STD,
                                          RESTRICTED_IMAGENET_CLASSES, RESTRICTED_IMAGENET_MEAN,
                                          RESTRICTED_IMAGENET_STD)
from server.synthesis.models.resnet import CifarResNet
from tests.model_support import randomize_batchnorm, robustness_checkpoint


def reference_logits(net, x, mean, std):
    mean, std = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        return net((x - mean) / std)


def robustness_cifar_forward(net: CifarResNet, x: torch.Tensor) -> torch.Tensor:
    """The robustness library's CIFAR ResNet head: a fixed 4x4 average pool (32 px input), then `linear`."""
    return net.linear(torch.nn.functional.avg_pool2d(net.feature_map(x), 4).flatten(1))


def logits(model, x):
    # load_model returns channels-last weights (faster); the reference runs contiguous, and the two
    # layouts pick different convolution kernels. Compare the weights' mapping in one layout.
    model = model.to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("depth", [18, 50])
def test_robustness_cifar_checkpoint_matches_the_original(tmp_path, depth):
    torch.manual_seed(depth)
    net = randomize_batchnorm(CifarResNet(depth, 10, width=0.125))
    path = tmp_path / "cifar_l2_0_5.pt"
    torch.save(robustness_checkpoint(net, CIFAR_MEAN, CIFAR_STD), path)
    model = load_model(path, device="cpu")
    x = torch.rand(3, 3, 32, 32)
    expected = reference_logits(lambda xn: robustness_cifar_forward(net, xn), x, CIFAR_MEAN, CIFAR_STD)
    torch.testing.assert_close(logits(model, x), expected)
    m = model.meta
    assert (m.id, m.arch, m.depth, m.width, m.dataset) == ("cifar_l2_0_5", "cifar_resnet", depth, 0.125, "cifar10")
    assert (m.classes, m.input_size, m.mean, m.training) == (CIFAR10_CLASSES, 32, list(CIFAR_MEAN), {"epoch": 150})


def test_robustness_imagenet_resnet50_matches_torchvision(tmp_path):
    torch.manual_seed(0)
    net = randomize_batchnorm(torchvision.models.resnet50())
    path = tmp_path / "imagenet_l2_3_0.pt"
    torch.save(robustness_checkpoint(net, IMAGENET_MEAN, IMAGENET_STD), path)
    model = load_model(path, device="cpu", norm="l2", eps=3.0)
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(logits(model, x), reference_logits(net, x, IMAGENET_MEAN, IMAGENET_STD))
    m = model.meta
    assert (m.arch, m.depth, m.dataset, m.input_size, m.norm, m.eps) == ("imagenet_resnet", 50, "imagenet",
                                                                           224, "l2", 3.0)
    assert m.classes == imagenet_classes() and m.classes[0] == "tench" and len(set(m.classes)) == 1000


def test_restricted_imagenet_is_told_by_its_normalizer(tmp_path):
    torch.manual_seed(0)
    net = randomize_batchnorm(torchvision.models.resnet18(num_classes=9))
    path = tmp_path / "RestrictedImageNet.pt"
    torch.save(robustness_checkpoint(net, RESTRICTED_IMAGENET_MEAN, RESTRICTED_IMAGENET_STD), path)
    model = load_model(path, device="cpu")
    assert (model.meta.dataset, model.meta.classes) == ("restricted_imagenet", RESTRICTED_IMAGENET_CLASSES)
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(logits(model, x),
                               reference_logits(net, x, RESTRICTED_IMAGENET_MEAN, RESTRICTED_IMAGENET_STD))


class GpuStoragePickler(pickle.Pickler):
    """Writes storages as torch 1.1 did for a model trained on a GPU: torch.cuda.FloatStorage on 'cuda:0'."""

    def __init_subclass__(cls, **kwargs):  # torch subclasses us and defines persistent_id there
        super().__init_subclass__(**kwargs)
        original = cls.persistent_id

        def persistent_id(self, obj):
            found = original(self, obj)
            if found and found[0] == "storage":
                found = ("storage", getattr(torch.cuda, found[1].__name__), found[2], "cuda:0", *found[4:])
            return found
        cls.persistent_id = persistent_id


def test_legacy_state_dict_key_in_the_old_serialization_format(tmp_path):
    """The published files date from torch 1.1: the pre-zip format, GPU storages, sometimes 'state_dict'."""
    torch.manual_seed(2)
    net = randomize_batchnorm(CifarResNet(18, 10, width=0.125))
    path = tmp_path / "old.pt"
    torch.save(robustness_checkpoint(net, CIFAR_MEAN, CIFAR_STD, key="state_dict"), path,
               pickle_module=types.SimpleNamespace(Pickler=GpuStoragePickler, dump=pickle.dump, __name__="pickle"),
               _use_new_zipfile_serialization=False)
    assert b"torch.cuda" in path.read_bytes()
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(logits(load_model(path, device="cpu"), x),
                               reference_logits(net, x, CIFAR_MEAN, CIFAR_STD))


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(3)
    return randomize_batchnorm(torchvision.models.resnet18())


@pytest.mark.parametrize("wrap", ["bare", "module", "state_dict", "model"])
def test_torchvision_state_dict_matches_torchvision(tmp_path, resnet18, wrap):
    net = resnet18
    state = net.state_dict()
    saved = {"bare": state, "module": {"module." + k: v for k, v in state.items()},
             "state_dict": {"state_dict": state, "epoch": 90}, "model": {"model": state}}[wrap]
    path = tmp_path / "resnet18.pth"
    torch.save(saved, path)
    model = load_model(path, device="cpu")
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(logits(model, x), reference_logits(net, x, IMAGENET_MEAN, IMAGENET_STD))
    assert (model.meta.depth, model.meta.dataset, model.meta.num_classes) == (18, "imagenet", 1000)


def test_architecture_is_read_from_the_tensors():
    with torch.device("meta"):
        wide = torchvision.models.wide_resnet50_2(num_classes=7).state_dict()
        r101 = torchvision.models.resnet101().state_dict()
        r34 = CifarResNet(34, 100, width=2.0).state_dict()
    assert vars(infer_architecture(wide)) == {"arch": "imagenet_resnet", "depth": 50, "width": 1.0,
                                              "bottleneck_width": 2.0, "num_classes": 7}
    assert (infer_architecture(r101).depth, infer_architecture(r101).width) == (101, 1.0)
    assert vars(infer_architecture(r34)) == {"arch": "cifar_resnet", "depth": 34, "width": 2.0, "num_classes": 100,
                                             "bottleneck_width": 1.0}


def test_hints_name_what_the_file_cannot_tell(tmp_path):
    torch.manual_seed(4)
    net = randomize_batchnorm(torchvision.models.resnet18(num_classes=3))
    path = tmp_path / "three.pt"
    torch.save(net.state_dict(), path)
    with pytest.raises(ValueError, match="cannot tell the names of its 3 classes"):
        load_model(path, device="cpu")
    with pytest.raises(ValueError, match="3 outputs but 2 class names"):
        load_model(path, device="cpu", classes=["a", "b"], mean=[0.5] * 3, std=[0.5] * 3)
    with pytest.raises(ValueError, match="cannot tell the input normalization"):
        load_model(path, device="cpu", classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="read from the weights"):
        load_model(path, device="cpu", depth=50)
    model = load_model(path, device="cpu", classes=["a", "b", "c"], mean=[0.5] * 3, std=[0.25] * 3, id="abc")
    assert (model.meta.id, model.meta.classes, model.meta.std, model.meta.dataset) == ("abc", ["a", "b", "c"],
                                                                                      [0.25] * 3, "custom")
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(logits(model, x), reference_logits(net, x, [0.5] * 3, [0.25] * 3))


class Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_refuses_a_pickle_with_arbitrary_objects_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save({"model": Payload(marker), "epoch": 1}, path)
    with pytest.raises(ValueError, match="refused to load.*never allowed to run code"):
        load_model(path, device="cpu")
    assert not marker.exists()


def test_rejects_unknown_layouts_and_junk(tmp_path):
    cases = {"layout.pt": {"model": {"encoder.weight": torch.zeros(3)}},
             "nodict.pt": {"weights": [torch.zeros(3)]},
             "list.pt": [torch.zeros(3)],
             "convnet.pt": torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, 2)).state_dict()}
    for name, obj in cases.items():
        torch.save(obj, tmp_path / name)
    (tmp_path / "junk.pt").write_bytes(b"\x80\x02not a checkpoint at all" * 10)
    expected = {"layout.pt": "unrecognised layout", "nodict.pt": "no state dict found.*'weights'",
                "list.pt": "holds a list", "convnet.pt": "unrecognised layout", "junk.pt": "not a readable"}
    for name, message in expected.items():
        with pytest.raises(ValueError, match=message):
            load_model(tmp_path / name, device="cpu")


def test_weights_that_do_not_fit_are_named(tmp_path):
    net = CifarResNet(18, 10, width=0.125)
    state = net.state_dict()
    del state["layer2.0.bn1.running_mean"]
    path = tmp_path / "broken.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match="missing.*layer2.0.bn1.running_mean"):
        load_model(path, device="cpu", dataset="cifar10")
