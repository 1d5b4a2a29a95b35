"""Training, resume, data-parallel training, evaluation and seed fitting, on a tiny image folder."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from torch.optim.optimizer import register_optimizer_step_pre_hook

from server import cli
from server.synthesis import load_model
from server.synthesis import training
from server.synthesis.data import load_image_folder
from server.synthesis.seeds import SeedDistribution
from tests.model_support import randomize_batchnorm, save_model

CLASSES = ["blue", "green", "red"]  # sorted, as the folder loader orders them
TINY = ["--depth", "18", "--width", "0.125", "--batch-size", "8", "--eps", "0.25", "--attack-steps", "1",
        "--eval-steps", "2", "--no-amp"]


def _write_split(root: Path, split: str, per_class: int, rng: np.random.Generator) -> None:
    """Each class is a noisy image dominated by its own colour channel: learnable in a few steps."""
    for c, name in enumerate(CLASSES):
        folder = root / split / name
        folder.mkdir(parents=True)
        channel = {"red": 0, "green": 1, "blue": 2}[name]
        for i in range(per_class):
            img = rng.uniform(0, 90, (32, 32, 3))
            img[..., channel] += 150
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"{i}.png")


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ROBUST_CANVAS_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    _write_split(root, "train", 16, rng)
    _write_split(root, "test", 6, rng)
    return root


def _train(data_dir: Path, out: Path, *extra: str) -> int:
    return cli.main(["train", str(data_dir), "--out-dir", str(out), "--model-id", "toy", *TINY, *extra])


@pytest.fixture(scope="module")
def saved_toy(tmp_path_factory) -> Path:
    """The model `train` starts from (training.build_model: TINY's architecture, CLASSES), untrained, with
    non-trivial batch-norm statistics, saved in the layout `train` writes (weights and card): for the tests
    that only need a model file to load. Built once per module instead of training one per test."""
    cfg = training.TrainConfig(data_dir="unused", model_id="toy", depth=18, width=0.125, eps=0.25).resolved()
    torch.manual_seed(0)
    model = training.build_model(cfg, CLASSES)
    randomize_batchnorm(model.backbone)
    return save_model(model, tmp_path_factory.mktemp("saved") / "run")


@pytest.fixture
def toy_weights(saved_toy, tmp_path) -> Path:
    """A copy of the saved model's files in this test's own folder (a test may write beside them)."""
    folder = tmp_path / "run"
    folder.mkdir()
    for f in saved_toy.parent.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    return folder / saved_toy.name


def test_train_writes_weights_and_a_card_that_load_model_reads(data_dir, tmp_path):
    out = tmp_path / "run"
    # 4 epochs: after 3, clean accuracy on these 18 images swings from 1/3 to 2/3 with float rounding alone
    assert _train(data_dir, out, "--epochs", "4") == 0
    card = json.loads((out / "toy.json").read_text())
    assert card["classes"] == CLASSES and card["norm"] == "l2" and card["eps"] == 0.25
    assert card["accuracy"]["images"] == 18 and card["accuracy"]["robust"]["steps"] == 2
    log = card["training"]["log"]
    assert log[-1]["train_loss"] < 0.6 * log[0]["train_loss"]  # it learns ...
    assert card["accuracy"]["clean"] > 0.5                      # ... and beats chance (1/3) on test images
    assert card["training"]["command"].startswith("robust-canvas train ")
    assert [e["epoch"] for e in card["training"]["log"]] == [1, 2, 3, 4]
    model = load_model(out / "toy.safetensors", device="cpu")
    assert model.meta.id == "toy" and model.meta.num_features == 64
    x = torch.rand(2, 3, 32, 32)
    assert model(x).shape == (2, 3) and model.features(x).shape == (2, 64)


def test_photo_layout_trains_records_its_recipe_and_loads_with_the_architecture_inferred(data_dir, tmp_path):
    """--arch imagenet_resnet: 7x7 stride-2 stem, ImageNet normalization and resized crops by default."""
    out = tmp_path / "photo"
    assert _train(data_dir, out, "--epochs", "2", "--arch", "imagenet_resnet", "--input-size", "64") == 0
    card = json.loads((out / "toy.json").read_text())
    config = card["training"]["config"]
    assert card["arch"] == "imagenet_resnet" and card["input_size"] == 64 and card["width"] == 0.125
    assert config["augment"] == "resized_crop" and config["mean"] == [0.485, 0.456, 0.406]
    assert config["attack_step_size"] == 2.5 * 0.25  # the default, made explicit in the card
    model = load_model(out / "toy.safetensors", device="cpu")
    assert type(model.backbone).__name__ == "ImageNetResNet" and model.meta.mean == config["mean"]
    assert "conv1.weight" in dict(model.backbone.named_parameters()) and model.backbone.conv1.stride == (2, 2)
    assert model.feature_map(torch.rand(1, 3, 64, 64)).shape[-1] == 2  # side / 32
    assert card["accuracy"]["clean"] > 0.5


def test_resume_after_a_crash_gives_the_same_weights_as_an_uninterrupted_run(data_dir, tmp_path, monkeypatch):
    # On the CPU, where training is deterministic (on a GPU, atomics add in any order: no run repeats bitwise).
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _train(data_dir, tmp_path / "straight", "--epochs", "2") == 0
    # 48 training images in batches of 8: 6 optimizer steps an epoch. Stop the run at the 9th step,
    # mid-way through the second epoch, as if the session ended there.
    steps = []

    def session_ends_mid_epoch_two(optimizer, args, kwargs):
        steps.append(optimizer)
        if len(steps) == 9:
            raise KeyboardInterrupt

    hook = register_optimizer_step_pre_hook(session_ends_mid_epoch_two)
    try:
        assert _train(data_dir, tmp_path / "crashed", "--epochs", "2") == 130   # as a shell reports Ctrl-C
    finally:
        hook.remove()
    assert len(steps) == 9
    assert not (tmp_path / "crashed" / "toy.safetensors").exists()
    assert (tmp_path / "crashed" / "checkpoint.pt").exists()   # the first epoch's
    resumed_steps = []
    hook = register_optimizer_step_pre_hook(lambda optimizer, args, kwargs: resumed_steps.append(optimizer))
    try:
        assert _train(data_dir, tmp_path / "crashed", "--epochs", "2", "--resume") == 0
    finally:
        hook.remove()
    assert len(resumed_steps) == 6   # the second epoch only: the first came from the checkpoint
    straight = load_file(str(tmp_path / "straight" / "toy.safetensors"))
    resumed = load_file(str(tmp_path / "crashed" / "toy.safetensors"))
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, rtol=1e-5, atol=1e-6, msg=key)
    assert len(json.loads((tmp_path / "crashed" / "toy.json").read_text())["training"]["log"]) == 2


def test_init_starts_from_the_given_weights_and_refuses_another_network(data_dir, toy_weights, tmp_path, capsys):
    # A learning rate of 1e-9: one epoch cannot move the weights, so the result shows where the run began.
    key = "backbone.conv1.weight"
    weights = load_file(str(toy_weights))
    weights[key] += 0.5    # not where a fresh run starts (the toy is build_model's own initialization)
    save_file(weights, str(toy_weights))
    assert _train(data_dir, tmp_path / "second", "--epochs", "1", "--lr", "1e-9", "--init", str(toy_weights)) == 0
    source, second = load_file(str(toy_weights)), load_file(str(tmp_path / "second" / "toy.safetensors"))
    assert _train(data_dir, tmp_path / "fresh", "--epochs", "1", "--lr", "1e-9") == 0
    fresh = load_file(str(tmp_path / "fresh" / "toy.safetensors"))
    torch.testing.assert_close(second[key], source[key], rtol=0, atol=1e-6)
    torch.testing.assert_close(fresh[key], source[key] - 0.5, rtol=0, atol=1e-6)
    card = json.loads((tmp_path / "second" / "toy.json").read_text())
    assert card["training"]["config"]["init"] == str(toy_weights)
    assert _train(data_dir, tmp_path / "wider", "--epochs", "1", "--width", "0.25", "--init", str(toy_weights)) == 2
    assert "its width is 0.125, this run's is 0.25" in capsys.readouterr().err


def test_data_parallel_training_under_torchrun_with_two_cpu_processes(data_dir, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}   # CPU processes (gloo), GPU or not
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--standalone", "-m", "server.cli", "train", str(data_dir), "--out-dir", str(out),
                           "--model-id", "toy", "--epochs", "1", *TINY],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # all of it: a lost rank says why only there
    card = json.loads((out / "toy.json").read_text())
    # 48 training images, 8 per process per step, 2 processes: 3 steps of 16 images.
    assert card["accuracy"]["images"] == 18
    assert card["training"]["log"][0]["epoch"] == 1
    load_model(out / "toy.safetensors", device="cpu")


def test_eval_prints_clean_and_robust_accuracy_as_json(data_dir, toy_weights, capsys):
    assert cli.main(["eval", str(toy_weights), str(data_dir), "--eps", "40", "--steps", "5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "toy" and result["split"] == "test"
    assert result["images"] == 18 and result["robust"] == {"norm": "l2", "eps": 40.0, "steps": 5,
                                                           "acc": result["robust"]["acc"]}
    # The printed clean accuracy is the model's on those 18 images, computed here independently.
    model = load_model(toy_weights, device="cpu")
    test = load_image_folder(data_dir / "test", 32)
    with torch.no_grad():
        right = (model(test.images.float() / 255).argmax(1) == test.labels).sum().item()
    assert 0 < right and result["clean"] == pytest.approx(right / 18)
    # A radius that can repaint the dominant colour must hurt: robust accuracy strictly below clean accuracy.
    assert result["robust"]["acc"] < result["clean"]


def test_eval_refuses_data_whose_classes_differ_from_the_model(data_dir, toy_weights, capsys):
    (data_dir / "test" / "red").rename(data_dir / "test" / "yellow")
    assert cli.main(["eval", str(toy_weights), str(data_dir)]) == 2
    assert "must be the model's classes" in capsys.readouterr().err


def test_fit_seeds_stores_class_gaussians_beside_the_model(data_dir, toy_weights):
    assert load_model(toy_weights, device="cpu").seeds is None   # nothing to generate from yet
    assert cli.main(["fit-seeds", str(toy_weights), str(data_dir), "--resolution", "8", "--ridge", "0.01"]) == 0
    seeds = SeedDistribution.load(toy_weights.with_name("toy.seeds.safetensors"))
    assert seeds.mean.shape == (3, 3 * 8 * 8) and seeds.resolution == 8
    model = load_model(toy_weights, device="cpu")
    assert model.seeds is not None
    samples = model.seeds.sample(CLASSES.index("red"), 64, 32, torch.Generator().manual_seed(0))
    assert samples.shape == (64, 3, 32, 32)
    channel_means = samples.mean((0, 2, 3))
    assert channel_means[0] > channel_means[1] + 0.3 and channel_means[0] > channel_means[2] + 0.3
    assert samples.std(0).mean() > 0.05  # samples differ from each other, not just the mean image


def test_evaluation_leaves_the_model_untouched_and_ignores_batch_composition(data_dir, toy_weights):
    """Class-sorted test folders make single-class batches: BatchNorm must not see them."""
    model = load_model(toy_weights, device="cpu").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    test = load_image_folder(data_dir / "test", 32)
    by_class = training.evaluate(model, test, eps=0.25, steps=2, batch_size=6, amp=False)
    mixed = training.evaluate(model, test, eps=0.25, steps=2, batch_size=18, amp=False)
    assert by_class == mixed
    assert model.training  # restored
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], msg=key)


def test_the_attack_is_one_object_named_by_keyword_and_stays_in_its_ball():
    """Issue 26: norm, eps, steps and amp were positional, so two could be swapped silently."""
    from dataclasses import replace

    from tests.conftest import make_tiny_model
    with pytest.raises(TypeError):
        training.Attack("l2", 0.5, 2)
    model, x, y = make_tiny_model(), torch.rand(2, 3, 32, 32), torch.tensor([0, 1])
    attack = training.Attack(norm="l2", eps=0.5, steps=2, amp=False)
    moved = training.adversarial(model, x, y, attack)
    distance = (moved - x).flatten(1).norm(dim=1)
    assert (distance > 0).all() and (distance <= 0.5 + 1e-4).all()
    assert training.adversarial(model, x, y, replace(attack, eps=0.0)) is x
