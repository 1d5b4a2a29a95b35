"""The registry: pulling from a local HTTP server, checksum failures, loading a pulled model, the CLI."""
import functools
import hashlib
import http.server
import threading

import pytest
import torch

from server.cli import main
from server.synthesis import load_model
from server.synthesis.models import registry
from server.synthesis.models.meta import CIFAR_MEAN, CIFAR_STD
from server.synthesis.models.registry import Published
from server.synthesis.models.resnet import CifarResNet

NAME = "test-cifar10-l2"
ACCURACY = {"clean": 0.9, "robust": {"norm": "l2", "eps": 0.5, "steps": 100, "acc": 0.7}}


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 (random port) serving tmp_path/served; yields (base url, folder)."""
    served = tmp_path / "served"
    served.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=served))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def published(server, tmp_path, monkeypatch):
    """A robustness-format checkpoint on the server, registered under NAME with its true sha256."""
    base, served = server
    torch.manual_seed(0)
    net = CifarResNet(18, 10, width=0.125).eval()
    state = {"normalizer.new_mean": torch.tensor(CIFAR_MEAN).view(3, 1, 1),
             "normalizer.new_std": torch.tensor(CIFAR_STD).view(3, 1, 1),
             **{f"model.{k}": v for k, v in net.state_dict().items()}}
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 10}, served / "cifar_l2_0_5.pt")
    data = (served / "cifar_l2_0_5.pt").read_bytes()
    entry = Published(NAME, "https://example.invalid/cifar_l2_0_5.pt", "cifar_l2_0_5.pt", "cifar10", "resnet18",
                      "l2", 0.5, ACCURACY, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    monkeypatch.setitem(registry.REGISTRY, NAME, entry)
    monkeypatch.setenv("ROBUST_CANVAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ROBUST_CANVAS_MODELS", str(tmp_path / "no-shipped-models"))
    monkeypatch.setenv(registry.URL_BASE_ENV, base)
    return entry, data, net


def leftovers():
    folder = registry.checkpoints_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_pull_then_load_model_by_name(published):
    entry, data, net = published
    assert registry.find_pulled(NAME) is None
    path = registry.pull(NAME, progress=False)
    assert path == registry.find_pulled(NAME) and path.read_bytes() == data
    assert leftovers() == [f"{NAME}.pt"]
    model = load_model(NAME, device="cpu")
    meta = model.meta
    assert (meta.id, meta.dataset, meta.norm, meta.eps, meta.accuracy) == (NAME, "cifar10", "l2", 0.5, ACCURACY)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = net((x - torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)) / torch.tensor(CIFAR_STD).view(1, 3, 1, 1))
        torch.testing.assert_close(model(x), expected)


def test_wrong_checksum_keeps_nothing(published, monkeypatch):
    entry, _, _ = published
    monkeypatch.setitem(registry.REGISTRY, NAME, Published(**{**vars(entry), "sha256": "0" * 64}))
    with pytest.raises(ValueError, match="sha256 mismatch"):
        registry.pull(NAME, progress=False)
    assert leftovers() == [] and registry.find_pulled(NAME) is None
    with pytest.raises(FileNotFoundError, match="not a pulled checkpoint"):
        load_model(NAME, device="cpu")


def test_url_override_and_unreachable_url(published, server, monkeypatch):
    base, _ = server
    monkeypatch.delenv(registry.URL_BASE_ENV)
    with pytest.raises(ConnectionError, match="could not download"):
        registry.pull(NAME, progress=False, url=f"{base}/missing.pt")
    assert leftovers() == []
    assert registry.pull(NAME, progress=False, url=f"{base}/cifar_l2_0_5.pt").exists()


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown registry model 'nope'.*imagenet-rn50-l2-3.0"):
        registry.pull("nope", progress=False)
    assert registry.find_pulled("../../etc/passwd") is None


def test_registry_entries_are_complete():
    for name in registry.list_models():
        e = registry.get(name)
        assert e.url.startswith("http") and e.url.split("?")[0].endswith(e.filename)
        assert e.norm in ("l2", "linf") and e.eps > 0 and e.dataset in ("cifar10", "imagenet", "restricted_imagenet")


def test_cli_list_and_pull(published, capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "cifar10-rn50-l2-0.5" in out and "imagenet-rn50-linf-4" in out and "4/255" in out
    assert f"{NAME}" in out and "available" in out and "90.0% / 70.0%" in out
    assert main(["models", "pull", NAME, "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(registry.find_pulled(NAME))
    main(["models", "list"])
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(NAME))
    assert "pulled" in row
    assert main(["models", "pull", "nope"]) == 2
    assert "unknown registry model 'nope'" in capsys.readouterr().err
