"""Every result carries its recipe, and the recipe makes the same pixels again: from the library,
from a CLI PNG (`robust-canvas rerun`), and from an API PNG (the CLI, or POST /api/rerun)."""
import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from server.cli import main
from server.synthesis import recipes, tasks
from server.synthesis.errors import FieldError
from server.synthesis.models.loading import load_model
from tests.api_support import api_client, picture, square_mask, tiny_with_seeds
from tests.model_support import random_seeds, save_model, task_inputs

FEW = {"steps": 3}


@pytest.mark.parametrize("task", list(tasks.TASKS))
def test_a_png_reruns_to_the_same_pixels(task):
    model = tiny_with_seeds()
    out = tasks.run(model, task, seed=4, **task_inputs()[task], **FEW)
    index = len(out.images) - 1
    recipe, read_index = recipes.read_png_recipe(recipes.png_bytes(out.images[index], out.recipe, index))
    assert read_index == index and recipe.task == task and recipe.seed == 4
    assert recipe.settings == out.recipe.settings and recipe.settings["steps"] == 3
    again = tasks.rerun(model, recipe)
    assert torch.equal(again.images, out.images)


def test_the_recipe_holds_every_effective_setting_and_float_inputs_exactly():
    model = tiny_with_seeds()
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # not 8-bit
    out = tasks.run(model, "inpaint", image=image, mask=torch.ones(32, 32), penalty_weight=7.0, **FEW)
    assert set(out.recipe.settings) == set(tasks.TASKS["inpaint"].settings)
    assert {"steps", "step_size", "eps", "penalty_weight", "rule", "patience", "fill", "known"} <= set(out.recipe.settings)
    assert out.recipe.settings["penalty_weight"] == 7.0
    assert out.recipe.settings["eps"] == tasks.task_defaults(model, "inpaint")["eps"]
    recipe, _ = recipes.read_png_recipe(recipes.png_bytes(out.images[0], out.recipe))
    assert torch.equal(recipe.inputs["image"], image)


def test_another_model_refuses_the_recipe():
    out = tasks.run(tiny_with_seeds(), "translate", image=torch.rand(3, 32, 32), class_=1, **FEW)
    other = tiny_with_seeds()
    other.meta.eps = 1.0   # same id, another card
    with pytest.raises(FieldError, match="card"):
        tasks.rerun(other, out.recipe)


def test_a_recipe_of_an_earlier_card_the_card_lists_reruns_to_the_same_pixels():
    """A card changed only in its task defaults lists the earlier card's hash: recipes record every
    setting, so theirs rerun alike (issue 26: the photo card's guess setting); others are refused."""
    model = tiny_with_seeds()
    model.meta.task_defaults = {"inpaint": {"min_confidence": 1.0}}
    out = tasks.run(model, "inpaint", image=torch.rand(1, 3, 32, 32), mask=torch.ones(32, 32), **FEW)
    earlier = recipes.card_hash(model.meta)
    model.meta.task_defaults = {"inpaint": {"guess": "off", "min_confidence": 0.8}}
    with pytest.raises(FieldError, match="card"):
        tasks.rerun(model, out.recipe)
    model.meta.earlier_cards = [earlier]
    assert torch.equal(tasks.rerun(model, out.recipe).images, out.images)
    assert recipes.card_hash(model.meta) != earlier


def test_a_png_without_recipe_is_a_clear_error():
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG")
    with pytest.raises(recipes.RecipeError, match="no robust-canvas recipe"):
        recipes.read_png_recipe(buf.getvalue())
    with pytest.raises(recipes.RecipeError, match="not a PNG"):
        recipes.read_png_recipe(b"GIF89a")


@pytest.fixture
def model_dir(tmp_path, monkeypatch):
    save_model(tiny_with_seeds(), tmp_path / "models", seeds=random_seeds())
    monkeypatch.setenv("ROBUST_CANVAS_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("ROBUST_CANVAS_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_cli_pngs_rerun_bit_for_bit(model_dir, capsys):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(model_dir / "a.png")
    assert main(["translate", str(model_dir / "a.png"), "dog", "--model", "tiny", "--steps", "3", "--seed", "2",
                 "--out", str(model_dir / "t.png")]) == 0
    assert main(["generate", "cat", "-n", "2", "--model", "tiny", "--steps", "3", "--out", str(model_dir / "g.png")]) == 0
    capsys.readouterr()
    assert main(["rerun", str(model_dir / "t.png")]) == 0
    assert main(["rerun", str(model_dir / "g-1.png"), "--out", str(model_dir / "again.png")]) == 0
    out = capsys.readouterr().out
    assert out.count("identical") == 2 and "seed 2" in out
    assert np.array_equal(np.asarray(Image.open(model_dir / "again.png")), np.asarray(Image.open(model_dir / "g-1.png")))


def test_cli_rerun_of_a_plain_png_exits_2(model_dir, capsys):
    Image.new("RGB", (8, 8)).save(model_dir / "plain.png")
    assert main(["rerun", str(model_dir / "plain.png")]) == 2
    assert "no robust-canvas recipe" in capsys.readouterr().err


def test_api_pngs_rerun_from_the_cli_and_from_the_api(model_dir, capsys):
    model = load_model("tiny", device="cpu")
    with api_client(models={"tiny": model}) as client:
        job = client.post("/api/tasks/inpaint?wait=true",
                          json={"image": picture((32, 32)), "mask": square_mask(), "steps": 3, "seed": 9}).json()
        assert job["recipe"]["model"] == "tiny" and job["recipe"]["seed"] == 9
        assert job["recipe"]["settings"]["penalty_weight"] == tasks.task_defaults(model, "inpaint")["penalty_weight"]
        png = job["result"]["images"][0]
        again = client.post("/api/rerun?wait=true", json={"png": png}).json()
        assert again["status"] == "done" and again["recipe"] == job["recipe"]
        assert _pixels(again["result"]["images"][0]) == _pixels(png)
        refused = client.post("/api/rerun", json={"png": picture()})
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == "png"
        assert "no robust-canvas recipe" in refused.json()["detail"][0]["msg"]
    (model_dir / "api.png").write_bytes(base64.b64decode(png.split(",", 1)[1]))
    assert main(["rerun", str(model_dir / "api.png")]) == 0
    assert "identical" in capsys.readouterr().out


def _pixels(url: str) -> bytes:
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB").tobytes()
