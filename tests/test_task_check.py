"""`tasks.check` from a model's card alone gives the recipe and the errors that `tasks.build` gives
with the model, and `tasks.batch_key` from that recipe is the built run's key: what a Ray front end,
which holds cards, relies on (docs/DEPLOY.md)."""
import pytest
import torch

from server.synthesis import tasks
from server.synthesis.errors import FieldError
from server.synthesis.models.loading import Card, load_model, read_card
from server.synthesis.models.robust_model import RobustModel
from server.synthesis.recipes import card_hash
from tests.api_support import tiny_with_seeds
from tests.conftest import make_tiny_model
from tests.model_support import random_seeds, save_model, task_inputs


def _image(n=2, h=32, w=32, seed=0):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _mask(h=32, w=32):
    m = torch.zeros(h, w)
    m[h // 4:3 * h // 4, w // 4:3 * w // 4] = 1
    return m


# Every task with its example inputs, plus an automatic class, several classes, images and strokes.
CASES = [(task, inputs) for task, inputs in task_inputs().items()] + [
    ("inpaint", {"image": _image(), "mask": _mask(), "class_": [1, 2], "known": "penalty"}),
    ("superresolve", {"image": _image(h=6, w=10), "factor": 3}),
    ("superresolve", {"image": _image(1, h=8, w=8), "factor": 2, "class_": "cat", "eps": 2.0}),
    ("translate", {"image": _image(3, h=40, w=24), "class_": ["cat", 1, "2"], "steps": 7, "rule": "adam"}),
    ("generate", {"class_": 3, "n": 3, "temperature": 0.5, "seed": 9}),
    ("paint", {"image": _image(), "mask": _mask(), "feature": [4, 6], "patience": 2}),
]


def _same_recipe(a, b) -> bool:
    """Equal recipes: the same JSON and the same input tensors, bit for bit."""
    ta, tb = a.tensors(), b.tensors()
    return a.to_json() == b.to_json() and ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)


def test_every_task_has_a_case():
    assert {task for task, _ in CASES} == set(tasks.TASKS)


@pytest.mark.parametrize("task,inputs", CASES, ids=[f"{t}-{i}" for i, (t, _) in enumerate(CASES)])
def test_check_from_the_card_gives_builds_recipe_and_batch_key(task, inputs):
    model = tiny_with_seeds()
    card = Card.of(model)
    built = tasks.build(model, task, **inputs)
    recipe = tasks.check(card, task, **inputs)
    assert _same_recipe(recipe, built.recipe)
    assert tasks.batch_key(card, recipe) == built.batch_key
    assert _same_recipe(tasks.recheck(card, recipe), tasks.rebuild(model, recipe).recipe)
    automatic = any(f.name == "class" and not f.required for f in tasks.TASKS[task].inputs)
    if automatic and "class_" not in inputs:
        assert recipe.inputs["class"] is None            # the automatic class stays automatic


def test_batch_key_follows_every_setting_and_size_it_depends_on():
    card = Card.of(tiny_with_seeds())
    base = {"image": _image(h=8, w=8), "class_": 1}
    keys = {tasks.batch_key(card, tasks.check(card, "superresolve", **base, **change))
            for change in ({}, {"factor": 2}, {"steps": 5}, {"eps": 3.0}, {"step_size": 0.2}, {"rule": "adam"},
                           {"patience": 0})}
    assert len(keys) == 7
    same = tasks.check(card, "superresolve", **base, seed=5)   # the seed does not matter
    assert tasks.batch_key(card, same) == tasks.batch_key(card, tasks.check(card, "superresolve", **base))


@pytest.mark.parametrize("given,message", [
    (("generate", {"class_": "unicorn"}), "unknown class"),
    (("generate", {"class_": 0, "n": 0}), "n must be"),
    (("generate", {"class_": [], "n": 1}), "at least one class"),
    (("generate", {"class_": list(range(10)), "n": 200}), "at most"),
    (("generate", {"class_": 0, "eps": float("nan")}), "eps"),
    (("translate", {"image": _image(2), "class_": [1, 2, 3]}), "3 classes for 2 images"),
    (("translate", {"image": torch.rand(2, 4, 8, 8), "class_": 1}), "shape"),
    (("translate", {"image": 2 * _image(), "class_": 1}), r"\[0, 1\]"),
    (("inpaint", {"image": _image(), "mask": torch.ones(16, 16)}), "mask is 16x16 but the image is 32x32"),
    (("inpaint", {"image": _image(), "mask": torch.zeros(32, 32)}), "empty"),
    (("inpaint", {"image": _image(), "mask": _mask(), "class_": [1, 2, 3]}), "3 classes for 2 images"),
    (("superresolve", {"image": _image(), "factor": 1}), "factor"),
    (("superresolve", {"image": _image(h=200, w=200), "factor": 4}), "downscale"),
    (("superresolve", {"image": _image(h=8, w=8), "class_": [1, 2, 3]}), "3 classes for 2 images"),
    (("sketch", {"image": _image(), "class_": 99}), "unknown class"),
    (("paint", {"image": _image(), "mask": _mask(), "feature": 10 ** 6}), "unknown feature"),
    (("paint", {"image": _image(), "mask": [_mask(), _mask()], "feature": [1]}), "as many features"),
    (("paint", {"image": _image(), "mask": [], "feature": []}), "at least one stroke"),
    (("paint", {"image": _image(), "mask": _mask(), "feature": [1, 2, 3]}), "3 features for 2 images"),
    (("translate", {"image": _image(), "class_": 1, "colour": 3}), "takes no 'colour'"),
])
def test_check_refuses_what_build_refuses_with_the_same_field_and_message(given, message):
    task, inputs = given
    model = tiny_with_seeds()
    with pytest.raises(FieldError, match=message) as from_model:
        tasks.build(model, task, **inputs)
    with pytest.raises(FieldError) as from_card:
        tasks.check(Card.of(model), task, **inputs)
    assert (from_card.value.field, from_card.value.message) == (from_model.value.field, from_model.value.message)


def test_a_card_without_seeds_cannot_generate():
    model = make_tiny_model()
    with pytest.raises(FieldError, match="robust-canvas fit-seeds") as refused:
        tasks.check(Card.of(model), "generate", class_=0)
    assert refused.value.field == "model"


def test_read_card_is_the_loaded_models_card_without_the_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_CANVAS_MODELS", str(tmp_path / "none"))   # no shipped model lends its seeds
    with_seeds = save_model(tiny_with_seeds(), tmp_path / "a", seeds=random_seeds())
    without = save_model(make_tiny_model(1), tmp_path / "b")
    built, init = [], RobustModel.__init__
    monkeypatch.setattr("server.synthesis.models.robust_model.RobustModel.__init__",
                        lambda *a, **k: built.append(a) or pytest.fail("read_card built a model"))
    cards = [read_card(with_seeds), read_card(str(without))]
    monkeypatch.setattr("server.synthesis.models.robust_model.RobustModel.__init__", init)
    assert not built
    for card, path, seeds in zip(cards, (with_seeds, without), (True, False)):
        model = load_model(path, device="cpu")
        assert card.meta == model.meta and card_hash(card.meta) == card_hash(model.meta)
        assert card.meta.num_features == model.meta.num_features > 0
        assert card.has_seeds is seeds is model.has_seeds
        assert card.source == str(path)
