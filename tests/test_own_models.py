"""A person's own model from their photo folders: the folders read (skips, refusals, split), and
`robust-canvas train FOLDER --init BASE` making a whole model in the data dir, on a tiny base."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch.optim.optimizer import register_optimizer_step_pre_hook

from server import cli
from server.synthesis.folders import FolderError, clean_class_name, read_photo_folders
from server.synthesis.models.loading import load_model, own_model_ids
from tests.conftest import make_tiny_model
from tests.model_support import random_seeds, save_model

COLOURS = {"Red Apples": 0, "green": 1, "blue": 2}   # folder name -> its dominant channel
TINY = ["--batch-size", "8", "--eps", "0.25", "--eval-steps", "2", "--no-amp"]


def _photos(root: Path, per_class: int = 12, names=COLOURS, size=(40, 30)) -> Path:
    """Each class a noisy picture dominated by its own colour channel, as JPEGs of another size than
    the model's (the reader resizes)."""
    rng = np.random.default_rng(0)
    for name, channel in names.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            img = rng.uniform(0, 90, (size[1], size[0], 3))
            img[..., channel] += 150
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"{i}.jpg", quality=95)
    return root


@pytest.fixture
def photos(tmp_path) -> Path:
    return _photos(tmp_path / "my-photos")


@pytest.fixture
def base(tmp_path, monkeypatch) -> Path:
    """A tiny robust base model with task defaults and seeds, saved as a file `--init` takes."""
    monkeypatch.setenv("ROBUST_CANVAS_CACHE", str(tmp_path / "cache"))
    model = make_tiny_model()
    model.meta.task_defaults = {"translate": {"steps": 7, "eps": 3.0}}
    return save_model(model, tmp_path / "base", seeds=random_seeds())


def _train(photos: Path, base: Path, *extra: str) -> int:
    return cli.main(["train", str(photos), "--init", str(base), "--epochs", "2", *TINY, *extra])


def _data_dir() -> Path:
    return Path(os.environ["ROBUST_CANVAS_DATA_DIR"])


# ---- the folders --------------------------------------------------------------------------------

def test_class_names_are_cleaned_into_names_never_paths():
    assert clean_class_name("Red Apples") == "red_apples"
    assert clean_class_name("../../etc") == "etc"
    assert clean_class_name("Äpfel/..\\x") == "äpfel_x"
    assert clean_class_name("...") == ""


def test_unreadable_files_are_skipped_and_counted_and_each_class_keeps_some_held_out(photos):
    (photos / "green" / "notes.txt").write_text("not a photo")
    good = (photos / "green" / "0.jpg").read_bytes()
    (photos / "green" / "cut.jpg").write_bytes(good[: len(good) // 3])          # truncated
    Image.new("RGB", (300, 300)).save(photos / "blue" / "huge.png")              # over the pixel limit below
    (photos / "blue" / ".DS_Store").write_bytes(b"\0")                           # hidden: not looked at
    nested = photos / "blue" / "2024" / "june"
    nested.mkdir(parents=True)
    Image.new("RGB", (20, 20), (0, 0, 200)).save(nested / "deep.webp")

    folders = read_photo_folders(photos, 32, max_pixels=200 * 200)
    assert folders.classes == ["blue", "green", "red_apples"]
    assert folders.counts == {"blue": 13, "green": 12, "red_apples": 12}
    assert folders.files == 40 and len(folders.skipped) == 3
    reasons = {s.file: s.reason for s in folders.skipped}
    assert reasons["green/notes.txt"] == "not an image" and reasons["green/cut.jpg"].startswith("broken image")
    assert reasons["blue/huge.png"].startswith("over 40,000 pixels")
    assert folders.skipped_line().startswith("skipped 3 of 40 files: ")
    assert folders.train.images.shape[1:] == (3, 32, 32) and "blue/2024/june/deep.webp" in folders.train_files + folders.test_files
    held = torch.bincount(folders.test.labels, minlength=3)
    assert held.tolist() == [3, 2, 2]     # a fifth of each class, rounded
    again = read_photo_folders(photos, 32, max_pixels=200 * 200)
    assert again.test_files == folders.test_files and again.sha256 == folders.sha256   # seeded
    (photos / "green" / "0.jpg").write_bytes((photos / "green" / "1.jpg").read_bytes())
    assert read_photo_folders(photos, 32, max_pixels=200 * 200).sha256 != folders.sha256


@pytest.mark.parametrize("layout, message", [
    ({"cats": 0}, "needs at least 2"),
    ({"cats": 0, "dogs": 1, "few": 2}, "too few photos in few (3)"),
    ({"Cats": 0, "cats!": 1}, "both make the class name 'cats'"),
])
def test_folders_that_cannot_make_a_model_are_refused_before_anything_runs(tmp_path, base, layout, message, capsys):
    root = tmp_path / "p"
    for name, channel in layout.items():
        _photos(root, per_class=3 if name == "few" else 8, names={name: channel})
    with pytest.raises(FolderError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_photo_folders(root, 32)
    assert _train(root, base) == 2
    assert message in capsys.readouterr().err
    assert not (_data_dir() / "models").exists() or own_model_ids() == []


# ---- the whole model ----------------------------------------------------------------------------

def test_one_command_makes_a_whole_model_in_the_data_dir_that_everything_finds(photos, base, tmp_path, capsys):
    (photos / "blue" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    assert _train(photos, base) == 0
    out = capsys.readouterr()
    assert "skipped 1 of 37 files: blue/broken.jpg" in out.err
    assert "model my-photos: held-out clean" in out.out and "APGD-CE" in out.out
    folder = _data_dir() / "models" / "my-photos"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"my-photos{s}" for s in (".json", ".safetensors", ".seeds.safetensors", ".features.json", ".features.webp"))
    card = json.loads((folder / "my-photos.json").read_text())
    assert card["classes"] == ["blue", "green", "red_apples"]
    assert card["norm"] == "l2" and card["eps"] == 0.25 and card["input_size"] == 32   # the base's, and as told
    assert card["accuracy"]["attacks"]["apgd_ce"]["library"].startswith("torchattacks")
    assert card["accuracy"]["images"] == 6   # a fifth of each class of 12 held out
    assert card["training"]["data"]["files"] == 37 and card["training"]["data"]["skipped"] == 1
    assert len(card["training"]["data"]["sha256"]) == 64
    assert card["training"]["base"]["id"] == "tiny" and card["task_defaults"]["translate"]["steps"] == 7
    # the translation radius: the first on the ladder over the base's 3.0 whose translations hold, else the last
    tried = card["training"]["translate_radius"]["tried"]
    assert [t["eps"] for t in tried] == [3.0, 4.0, 5.0, 6.0][:len(tried)]
    assert all(t["holds"] < 0.95 for t in tried[:-1]) and (tried[-1]["holds"] >= 0.95 or len(tried) == 4)
    assert card["task_defaults"]["translate"]["eps"] == tried[-1]["eps"]
    assert card["training"]["command"].startswith("robust-canvas train ")
    names = json.loads((folder / "my-photos.features.json").read_text())
    assert names["features"][0]["crops"][0]["file"].split("/")[0] in card["classes"]   # crops of their photos

    assert cli.main(["models", "list"]) == 0
    assert any(line.startswith("my-photos") and "yours" in line for line in capsys.readouterr().out.splitlines())
    model = load_model("my-photos", device="cpu")
    assert model.meta.classes == card["classes"] and model.has_seeds and model.feature_names is not None
    assert cli.main(["generate", "green", "--model", "my-photos", "--steps", "2", "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g-0.png").exists() or (tmp_path / "g.png").exists()
    assert not list((_data_dir() / "models" / ".training").iterdir())   # nothing half-made is left

    assert _train(photos, base) == 2
    assert "you have a model 'my-photos' already" in capsys.readouterr().err
    assert cli.main(["models", "delete", "my-photos"]) == 0
    assert not folder.exists() and own_model_ids() == []


def test_a_new_head_keeps_the_base_backbone(photos, base):
    assert _train(photos, base, "--epochs", "1", "--lr", "1e-9", "--model-id", "still") == 0
    mine = load_file(str(_data_dir() / "models" / "still" / "still.safetensors"))
    theirs = load_file(str(base))
    assert mine.keys() == theirs.keys()
    head = {k for k in mine if mine[k].shape != theirs[k].shape}
    assert len(head) == 2 and all(mine[k].shape[0] == 3 and theirs[k].shape[0] == 10 for k in head)  # weight, bias
    for key in [k for k in set(mine) - head if "running" not in k]:   # batch-norm statistics follow the photos
        torch.testing.assert_close(mine[key], theirs[key], rtol=0, atol=1e-6, msg=key)


def test_ctrl_c_keeps_a_checkpoint_that_resume_continues_and_lists_nothing_half_made(photos, base, capsys):
    steps = []

    def interrupt_in_the_second_epoch(optimizer, args, kwargs):
        steps.append(1)
        if len(steps) == 5:      # 29 training photos in batches of 8: 3 steps an epoch
            raise KeyboardInterrupt

    hook = register_optimizer_step_pre_hook(interrupt_in_the_second_epoch)
    try:
        assert _train(photos, base) == 130
    finally:
        hook.remove()
    assert "--resume" in capsys.readouterr().err
    assert own_model_ids() == []
    assert (_data_dir() / "models" / ".training" / "my-photos" / "checkpoint.pt").exists()
    resumed = []
    hook = register_optimizer_step_pre_hook(lambda *a: resumed.append(1))
    try:
        assert _train(photos, base, "--resume") == 0
    finally:
        hook.remove()
    assert len(resumed) == 3        # the second epoch only
    assert own_model_ids() == ["my-photos"]
    card = json.loads((_data_dir() / "models" / "my-photos" / "my-photos.json").read_text())
    assert "--resume" not in card["training"]["command"] and len(card["training"]["log"]) == 2


def test_an_own_model_in_another_data_dir_is_a_base_too(photos, base, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    assert _train(photos, base, "--epochs", "1", "--model-id", "first", "--data-dir", str(elsewhere)) == 0
    assert cli.main(["train", str(photos), "--init", "first", "--data-dir", str(elsewhere), "--model-id", "second",
                     "--epochs", "1", *TINY]) == 0
    card = json.loads((elsewhere / "models" / "second" / "second.json").read_text())
    assert card["training"]["base"]["id"] == "first" and own_model_ids() == []   # none in the default data dir


def test_a_run_cut_short_after_keeping_its_photos_resumes_to_a_whole_model(photos, base, tmp_path, monkeypatch):
    """An upload's photos move into the model's folder just before it is published; a run killed in
    between finds them there when it resumes, and publishes the model with them."""
    from server.synthesis import own_models
    data_dir = tmp_path / "data"
    cfg = own_models.fine_tune_config(photos, "colours", str(base), data_dir, epochs=1, batch_size=8, eps=0.25,
                                      amp=False)
    publish = own_models.publish

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("the server was killed")

    monkeypatch.setattr(own_models, "publish", killed)
    with pytest.raises(KeyboardInterrupt):
        own_models.make_own_model(cfg, data_dir, keep_photos=True)
    assert not photos.exists() and own_model_ids(data_dir) == []
    monkeypatch.setattr(own_models, "publish", publish)
    made = own_models.make_own_model(cfg, data_dir, keep_photos=True, resume=True)
    folder = made.weights.parent
    assert {p.name for p in (folder / "photos").iterdir()} == set(COLOURS)
    assert own_model_ids(data_dir) == ["colours"] and not own_models.staging_dir("colours", data_dir).exists()
