"""The six tasks: contracts that hold for any model (tiny random one), plus a check on the shipped model."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from server.synthesis import AllOf, KnownPixels, objectives, tasks
from server.synthesis.errors import FieldError
from server.synthesis.fill import harmonic_fill, mean_fill
from server.synthesis.models.meta import ModelMeta
from server.synthesis.objectives import Outputs, class_score
from server.synthesis.palette import CHUNK, DEFAULTS, feature_palette, palette_settings
from server.synthesis.seeds import SeedDistribution
from tests.conftest import count_passes
from tests.model_support import task_inputs as _inputs   # (test_recipes no longer defines _inputs)

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "cifar10-rn18h-l2.safetensors"
FAST = {"steps": 4}


@pytest.fixture
def model(tiny_model):
    d = 3 * 8 * 8
    tiny_model.seeds = SeedDistribution(torch.rand(10, d, generator=torch.Generator().manual_seed(0)),
                                        0.1 * torch.eye(d).expand(10, d, d).half(), resolution=8)
    return tiny_model


def _image(n=2, h=32, w=32, seed=0):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _live_feature(model, rank=0):
    """A representation component that is active on the test images (a random net has dead ones)."""
    with torch.no_grad():
        return int(model.features(_image()).mean(0).argsort(descending=True)[rank])


def _mask(h=32, w=32):
    m = torch.zeros(h, w)
    m[h // 4:3 * h // 4, w // 4:3 * w // 4] = 1
    return m


BUILDERS = {
    "generate": lambda m, **kw: tasks.build(m, "generate", class_="cat", n=2, **kw),
    "translate": lambda m, **kw: tasks.build(m, "translate", image=_image(), class_="dog", **kw),
    "inpaint": lambda m, **kw: tasks.build(m, "inpaint", image=_image(), mask=_mask(), class_=3, **kw),
    "superresolve": lambda m, **kw: tasks.build(m, "superresolve", image=_image(h=8, w=8), factor=4, class_=1, **kw),
    "sketch": lambda m, **kw: tasks.build(m, "sketch", image=_image(), class_=["horse", "ship"], **kw),
    "paint": lambda m, **kw: tasks.build(m, "paint", image=_image(), mask=_mask(), feature=_live_feature(m),
                                         feature_weight=10.0, **kw),
}


@pytest.mark.parametrize("task", sorted(BUILDERS))
def test_every_task_raises_its_objective(model, task):
    problem = BUILDERS[task](model, steps=5, step_size=0.1)
    result = tasks.solve(model, problem)
    assert (result.trace[:, -1] > result.trace[:, 0]).all(), task
    out = tasks.finish(model, problem, result)
    assert out.images.min() >= 0 and out.images.max() <= 1
    assert len(out.classes) == len(out.class_names) == len(out.scores) == len(problem)


@pytest.mark.parametrize("task", ["generate", "translate", "sketch", "superresolve", "inpaint", "paint"])
def test_results_stay_within_eps(model, task):
    problem = BUILDERS[task](model, steps=6, step_size=0.5, eps=0.7)
    result = tasks.solve(model, problem)
    assert ((result.images - problem.problem.x0).flatten(1).norm(dim=1) <= 0.7 + 1e-4).all()


def _scratch(h=32, w=32):
    m = torch.zeros(h, w)
    m[torch.arange(h), (torch.arange(h) * w // h)] = 1   # a one-pixel diagonal line
    return m


def _corner(h=32, w=32):
    m = torch.zeros(h, w)
    m[: 3 * h // 4, : 3 * w // 4] = 1                   # a large hole touching two edges
    return m


@pytest.mark.parametrize("mask", [_mask, _scratch, _corner])
@pytest.mark.parametrize("hw", [(32, 32), (40, 60)])
def test_inpaint_keeps_known_pixels_bitwise(model, mask, hw):
    x, m = _image(2, *hw), mask(*hw)
    out = tasks.run(model, "inpaint", image=x, mask=m, class_=3, steps=6)
    known = (m == 0).expand_as(x)
    assert torch.equal(out.images[known], x[known])
    assert (out.images - x)[~known].abs().mean() > 0.01   # the hole was filled with something else


def _smooth_image(n=2, size=32):
    """A photograph stand-in with smooth colour changes (a random fill of it has seams)."""
    low = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(4))
    return F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def test_inpaint_meets_its_border_better_than_a_flat_fill(model):
    x, m = _smooth_image(), _mask()
    hole = (m > 0)[None, None]
    seam = objectives.seam(hole)
    problem = tasks.build(model, "inpaint", image=x, mask=m, class_=3, steps=6)
    start = problem.problem.x0
    flat = mean_fill(x, hole.float())
    score = lambda images: seam(Outputs(images, None, None, None))
    out = tasks.solve(model, problem).images
    assert (score(start) < 0.5 * score(flat)).all()   # the harmonic start
    assert (score(out) < score(flat)).all()           # and the result
    assert ((start - x) ** 2).mean() < ((flat - x) ** 2).mean()


def test_harmonic_fill_reproduces_a_linear_ramp_and_keeps_the_rest():
    ramp = torch.linspace(0, 1, 48)[None, None, None].expand(1, 3, 48, 48).clone()
    hole = torch.zeros(1, 1, 48, 48, dtype=torch.bool)
    hole[..., 10:40, 5:30] = True
    filled = harmonic_fill(ramp, hole)
    assert torch.equal(filled[~hole.expand_as(ramp)], ramp[~hole.expand_as(ramp)])
    assert (filled - ramp).abs().max() < 0.02


def test_paper_inpainting_is_a_card_setting(model):
    model.meta.task_defaults = {"inpaint": {"fill": "mean", "known": "penalty", "rule": "pgd", "patience": 0,
                                            "penalty_weight": 50.0}}
    x, m = _image(), _mask()
    problem = tasks.build(model, "inpaint", image=x, mask=m, steps=10, step_size=0.2, eps=5.0)
    expected = (x[0] * (1 - m)).sum((1, 2)) / (1 - m).sum()
    assert torch.allclose(problem.problem.x0[0, :, 16, 16], expected, atol=1e-5)   # the mean colour fill
    assert AllOf(problem.problem.constraint).part(KnownPixels) is None and problem.problem.rule == "pgd"
    out = tasks.finish(model, problem, tasks.solve(model, problem)).images
    keep = (1 - m).bool()
    assert 0 < (out - x)[..., keep].abs().mean() < 0.02  # held by the penalty, not exactly


@pytest.mark.parametrize("setting,value", [("rule", "sgd"), ("fill", "zeros"), ("known", "maybe"), ("patience", -1)])
def test_bad_card_settings_are_refused(model, setting, value):
    model.meta.task_defaults = {"inpaint": {setting: value}}
    with pytest.raises(FieldError, match=setting):
        tasks.build(model, "inpaint", image=_image(), mask=_mask())


def test_paint_with_default_weights_leaves_the_rest_in_place(model):
    x, m = _image(), _mask()
    out = tasks.run(model, "paint", image=x, mask=m, feature=_live_feature(model), steps=8, step_size=0.3, eps=5.0).images
    change = (out - x).abs().mean(1)
    assert change[:, ~m.bool()].mean() < 0.01
    assert change[:, m.bool()].mean() > 5 * change[:, ~m.bool()].mean()


def test_paint_changes_the_region_more_than_the_rest(model):
    x, m = _image(), _mask()
    ks = [_live_feature(model, 0), _live_feature(model, 1)]
    out = tasks.run(model, "paint", image=x, mask=m, feature=ks, steps=8, step_size=0.3, eps=5.0, feature_weight=10.0)
    change = (out.images - x).abs().mean(1)
    assert (change[:, m.bool()].mean() > 2 * change[:, ~m.bool()].mean())


def test_same_seed_same_samples_and_samples_differ(model):
    a = tasks.run(model, "generate", class_="cat", n=3, seed=5, **FAST).images
    assert torch.equal(a, tasks.run(model, "generate", class_=3, n=3, seed=5, **FAST).images)
    assert not torch.equal(a, tasks.run(model, "generate", class_="cat", n=3, seed=6, **FAST).images)
    p = tasks.build(model, "generate", class_="cat", n=6, steps=20)
    samples = tasks.solve(model, p).images
    # samples of one class do not collapse onto one image: they stay about as far apart as their seeds
    assert torch.pdist(samples.flatten(1)).min() > 0.5 * torch.pdist(p.problem.x0.flatten(1)).min()


def test_seed_temperature_spreads_the_seeds(model):
    spread = {}
    for t in (1.0, 2.0):
        model.meta.task_defaults = {"generate": {"temperature": t}}
        x0 = tasks.build(model, "generate", class_="cat", n=8, seed=1).problem.x0
        spread[t] = torch.pdist(x0.flatten(1)).mean()
    assert spread[2.0] > 1.5 * spread[1.0]
    model.meta.task_defaults = {"generate": {"temperature": 0.0}}
    with pytest.raises(FieldError, match="temperature"):
        tasks.build(model, "generate", class_="cat", n=2)


def test_generate_several_classes_and_labels(model):
    p = tasks.build(model, "generate", class_=["cat", "dog", 0], n=2, **FAST)
    with torch.no_grad():
        scores = p.problem.objective(model.outputs(p.problem.x0))
        expected = class_score(torch.tensor([3, 3, 5, 5, 0, 0]))(model.outputs(p.problem.x0))
    assert len(p) == 6 and torch.equal(scores, expected)


def test_batch_equals_separate(model):
    x = _image(3)
    together = tasks.run(model, "translate", image=x, class_=["dog", "cat", "ship"], **FAST).images
    apart = torch.cat([tasks.run(model, "translate", image=x[i], class_=c, **FAST).images for i, c in enumerate(["dog", "cat", "ship"])])
    assert torch.allclose(together, apart, atol=1e-5)
    problems = [tasks.build(model, "inpaint", image=x[i:i + 1], mask=_mask(), class_=2, **FAST) for i in range(2)]
    batched = tasks.solve_batch(model, problems)
    for p, r in zip(problems, batched):
        assert torch.allclose(r.images, tasks.solve(model, p).images, atol=1e-5)


def test_display_size_keeps_the_aspect_ratio(model):
    assert tasks.run(model, "translate", image=_image(1, 40, 60), class_="dog", **FAST).images.shape == (1, 3, 40, 60)
    assert tasks.run(model, "translate", image=_image(1, 16, 8), class_="dog", **FAST).images.shape == (1, 3, 32, 16)
    assert tasks.run(model, "translate", image=_image(1, 1000, 500), class_="dog", **FAST).images.shape == (1, 3, 256, 128)
    assert tasks.run(model, "superresolve", image=_image(1, 8, 6), factor=4, **FAST).images.shape == (1, 3, 32, 24)
    x = _image(1, 40, 60)
    m = torch.zeros(40, 60)
    m[:10] = 1
    assert tasks.run(model, "inpaint", image=x, mask=m, **FAST).images.shape == (1, 3, 40, 60)


def test_several_strokes(model):
    m1, m2 = torch.zeros(32, 32), torch.zeros(32, 32)
    m1[:8], m2[-8:] = 1, 1
    out = tasks.run(model, "paint", image=_image(1), mask=[m1, m2], feature=[1, 2], **FAST)
    assert out.images.shape == (1, 3, 32, 32)


def test_card_defaults_override_the_fallback(model):
    reference = tasks.TASKS["generate"].reference
    assert tasks.task_defaults(model, "generate")["steps"] == reference["steps"]
    meta = ModelMeta.from_dict({**model.meta.to_dict(), "task_defaults": {"generate": {"steps": 7}}})
    model.meta = meta
    p = tasks.build(model, "generate", class_=0)
    assert p.steps == 7 and p.settings["eps"] == reference["eps"]
    assert tasks.build(model, "generate", class_=0, steps=3).steps == 3


def test_resolve_class(model):
    assert tasks.resolve_class(model, "Cat") == 3 == tasks.resolve_class(model, 3) == tasks.resolve_class(model, "3")
    for bad in ["unicorn", 10, -1, 2.5, True, None]:
        with pytest.raises(ValueError, match="unknown class"):
            tasks.resolve_class(model, bad)


@pytest.mark.parametrize("call,message", [
    (lambda m: tasks.build(m, "generate", class_="unicorn"), "unknown class"),
    (lambda m: tasks.build(m, "generate", class_=0, n=0), "n must be"),
    (lambda m: tasks.build(m, "generate", class_=0, steps=-1), "steps"),
    (lambda m: tasks.build(m, "generate", class_=0, steps=10 ** 7), "steps"),
    (lambda m: tasks.build(m, "generate", class_=0, step_size=0), "step_size"),
    (lambda m: tasks.build(m, "generate", class_=0, eps=float("nan")), "eps"),
    (lambda m: tasks.build(m, "translate", image=_image(2), class_=[1, 2, 3]), "3 classes for 2 images"),
    (lambda m: tasks.build(m, "translate", image=torch.rand(2, 4, 8, 8), class_=1), "shape"),
    (lambda m: tasks.build(m, "translate", image=2 * _image(), class_=1), r"\[0, 1\]"),
    (lambda m: tasks.build(m, "translate", image=[[0.5]], class_=1), "tensor"),
    (lambda m: tasks.build(m, "inpaint", image=_image(), mask=torch.ones(16, 16)), "mask is 16x16 but the image is 32x32"),
    (lambda m: tasks.build(m, "inpaint", image=_image(), mask=torch.zeros(32, 32)), "empty"),
    (lambda m: tasks.build(m, "inpaint", image=_image(), mask=torch.ones(3, 1, 32, 32)), "shape"),
    (lambda m: tasks.build(m, "superresolve", image=_image(), factor=1), "factor"),
    (lambda m: tasks.build(m, "superresolve", image=_image(), factor=2.5), "factor"),
    (lambda m: tasks.build(m, "superresolve", image=_image(h=200, w=200), factor=4), "downscale"),
    (lambda m: tasks.build(m, "paint", image=_image(), mask=_mask(), feature=10 ** 6), "unknown feature"),
    (lambda m: tasks.build(m, "paint", image=_image(), mask=[_mask(), _mask()], feature=[1]), "as many features"),
])
def test_bad_inputs_are_refused(model, call, message):
    with pytest.raises(ValueError, match=message):
        call(model)


def test_generate_without_seeds_says_what_to_run(tiny_model):
    with pytest.raises(ValueError, match="robust-canvas fit-seeds"):
        tasks.build(tiny_model, "generate", class_=0)


def _outside(f):
    """Values just outside a number field's limits: below its minimum, above its maximum."""
    step = 1 if f.kind == "int" else 0.5
    below = [] if f.minimum is None else [f.minimum if f.positive else f.minimum - step]
    above = [] if f.maximum is None else [f.maximum + step if f.kind == "int" else f.maximum * 1.5]
    return below + above


RANGED = [(task, f) for task, spec in tasks.TASKS.items() for f in spec.fields
          if f.minimum is not None or f.maximum is not None]


@pytest.mark.parametrize("task,field", RANGED, ids=[f"{t}-{f.name}" for t, f in RANGED])
def test_every_task_refuses_an_out_of_range_value_of_every_ranged_field(model, task, field):
    """The registry checks every field before a builder runs, so no builder can forget one."""
    assert _outside(field)
    for bad in _outside(field):
        with pytest.raises(FieldError) as refused:
            tasks.build(model, task, **{**_inputs()[task], field.arg: bad})
        assert refused.value.field == field.name, (bad, refused.value)


def test_palette_is_batched_and_cached(model, tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_CANVAS_CACHE", str(tmp_path))
    monkeypatch.setenv("ROBUST_CANVAS_MODELS", str(tmp_path / "none"))
    passes = count_passes(model)
    p = feature_palette(model, 8, steps=2)
    d = model.meta.num_features
    assert p.shape == (d, 3, 8, 8)
    # batched: one optimizer run per CHUNK swatches (2 steps and the final scoring), each pass all of them at once
    assert passes == [min(CHUNK, d - a) for a in range(0, d, CHUNK) for _ in range(3)]
    [cached] = list((tmp_path / "palettes").iterdir())
    assert cached.name.startswith("tiny.palette8-")
    passes.clear()
    assert torch.equal(feature_palette(model, 8, steps=2), p)
    assert passes == []                      # read from the cache: the model made no pass
    with pytest.raises(ValueError, match="palette size"):
        feature_palette(model, 3)


def test_the_palette_has_its_own_defaults_and_the_card_wins(model):
    assert "palette" not in tasks.TASKS
    assert palette_settings(model) == tasks.at_input_size(DEFAULTS, model.meta.input_size)
    model.meta.task_defaults = {"palette": {"steps": 3}}
    assert palette_settings(model)["steps"] == 3 and palette_settings(model, steps=5)["steps"] == 5
    with pytest.raises(FieldError, match="eps"):
        palette_settings(model, eps=-1.0)


@pytest.mark.skipif(not DEFAULT_WEIGHTS.exists(), reason="the default model is not built yet")
@pytest.mark.parametrize("model_id", ["imagenette-rn18w75-l2", "cifar10-rn18h-l2"])
def test_shipped_models_do_each_task(model_id):
    """Generation reaches its classes; translation and sketches reach the class asked for."""
    from server.synthesis import load_model
    model = load_model(model_id, device="cpu")
    size, names = model.meta.input_size, model.meta.classes
    out = tasks.run(model, "generate", class_=list(range(10)), steps=20)
    assert sum(a == b for a, b in zip(out.classes, range(10))) >= 8
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)) * 0.2 + 0.4
    assert tasks.run(model, "translate", image=x, class_=names[7], steps=30).class_names == [names[7]]
    assert tasks.run(model, "sketch", image=x, class_=names[8], steps=30).class_names == [names[8]]


def test_every_task_runs_on_a_robustness_library_checkpoint(tmp_path):
    """A foreign CIFAR checkpoint drives the same six tasks; generation borrows the shipped seeds."""
    from server.synthesis import load_model
    from server.synthesis.models.meta import CIFAR_MEAN, CIFAR_STD
    from server.synthesis.models.resnet import CifarResNet
    from tests.model_support import randomize_batchnorm, robustness_checkpoint

    torch.manual_seed(0)
    path = tmp_path / "cifar_l2_0_5.pt"
    torch.save(robustness_checkpoint(randomize_batchnorm(CifarResNet(18, 10, width=0.125)), CIFAR_MEAN, CIFAR_STD),
               path)
    model = load_model(path, device="cpu")
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(32, 32)
    mask[8:24, 8:24] = 1
    few = {"steps": 3}
    inputs = {"generate": {"class_": "cat", "n": 2}, "translate": {"image": image, "class_": "dog"},
              "inpaint": {"image": image, "mask": mask, "class_": "ship"},
              "superresolve": {"image": image[:, :16, :16], "factor": 2}, "sketch": {"image": image, "class_": "horse"},
              "paint": {"image": image, "mask": mask, "feature": 3, "step_size": 0.02}}
    outputs = [tasks.run(model, task, **given, **few) for task, given in inputs.items()]
    for out in outputs:
        assert out.images.shape[1:] == (3, 32, 32) and out.trace.shape[1] == 4
        assert (out.trace[:, -1] > out.trace[:, 0]).all(), out.trace  # every objective climbed
