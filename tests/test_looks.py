"""Issue 20's levers against artifacts: a random view of the images (jitter, flip), the Fourier
basis of the steps, the first-layer statistics prior and Langevin noise. Each climbs, reproduces
from its seed, keeps batched jobs independent, is checked by the registry, and is off in recipes
made before it existed."""
import pytest
import torch

from server.synthesis import Ball, class_score, optimize, tasks
from server.synthesis.objectives import Outputs, stem_prior, transformed
from server.synthesis.problem import Problem, solve, solve_batch
from server.synthesis.steps import BASES, FourierBasis, Update, make_step
from server.synthesis.tasks.registry import LOOKS, LOOKS_OFF, SETTINGS
from tests.api_support import api_client, field_of, picture, tiny_with_seeds

X0 = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def _climb(model, objective, **kw):
    r = optimize(model, X0, objective, steps=6, step_size=0.2, constraint=Ball("l2", 2.0), **kw)
    with torch.no_grad():
        before, after = (class_score(3)(model.outputs(x)) for x in (X0, r.images))
    return r, before, after


@pytest.mark.parametrize("lever", [
    {"objective": transformed(class_score(3), jitter=3, seed=1)},
    {"objective": transformed(class_score(3), jitter=2, flip=0.5, scale=0.1, seed=1)},
    {"rule": Update("pgd", basis="fourier")},
    {"rule": Update("momentum", basis="fourier")},
    {"rule": Update("pgd", noise=0.5, seed=3)},
], ids=["jitter", "jitter-flip-scale", "fourier", "fourier-momentum", "langevin"])
def test_every_lever_raises_the_class_score_in_a_few_steps(tiny_model, lever):
    objective = lever.pop("objective", class_score(3))
    r, before, after = _climb(tiny_model, objective, **lever)
    assert (after > before).all()
    assert ((r.images - X0).flatten(1).norm(dim=1) <= 2.0 + 1e-4).all()


def test_the_stem_prior_with_the_class_score_still_raises_it(tiny_model):
    prior = stem_prior(*tiny_model.stem_statistics())
    _, before, after = _climb(tiny_model, class_score(3) - 0.1 * prior)
    assert (after > before).all()


def test_langevin_noise_reproduces_from_its_seed_and_differs_with_another(tiny_model):
    runs = [_climb(tiny_model, class_score(3), rule=Update("momentum", noise=1.0, seed=s))[0].images for s in (5, 5, 6)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])
    plain = _climb(tiny_model, class_score(3), rule="momentum")[0].images
    assert torch.equal(_climb(tiny_model, class_score(3), rule=Update("momentum"))[0].images, plain)


def test_langevin_noise_has_the_asked_length():
    x, g = torch.zeros(3, 3, 16, 16), torch.zeros(3, 3, 16, 16)
    step = make_step("l2", x, 100.0, 0.5, Update("pgd", noise=2.0, seed=0))
    moved = step.step(x, g)   # a zero gradient: the move is the noise alone
    assert torch.allclose(moved.flatten(1).norm(dim=1), torch.full((3,), 1.0), atol=1e-5)


def test_a_random_view_reproduces_and_the_gradient_flows_through_it(tiny_model):
    objective = transformed(class_score(3), jitter=4, flip=0.5, seed=2)
    a, b = (_climb(tiny_model, objective)[0].images for _ in range(2))
    assert torch.equal(a, b)   # each run starts the view's sequence afresh
    other = _climb(tiny_model, transformed(class_score(3), jitter=4, flip=0.5, seed=3))[0].images
    assert not torch.equal(a, other)
    x = X0.clone().requires_grad_(True)
    view = objective.view.sampler()
    class_score(3)(tiny_model.outputs(view(x))).sum().backward()
    assert x.grad.abs().sum() > 0


def test_batched_jobs_with_views_and_noise_get_what_they_get_alone(tiny_model):
    def problem(seed):
        return Problem(x0=X0 * (0.5 + 0.1 * seed), objective=transformed(class_score(seed), jitter=3, seed=seed),
                       steps=4, step_size=0.2, constraint=Ball("l2", 2.0), rule=Update("pgd", noise=0.3, seed=9))
    alone = [solve(tiny_model, problem(s)).images for s in (1, 2)]
    together = solve_batch(tiny_model, [problem(1), problem(2)])
    for a, t in zip(alone, together):
        assert torch.allclose(a, t.images, atol=1e-5)


def test_the_fourier_basis_prefers_smooth_colour_steps():
    """A checkerboard gradient in one channel is damped far more than a smooth grey one."""
    basis = FourierBasis()
    yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    checker = torch.zeros(1, 3, 32, 32)
    checker[0, 0] = ((yy + xx) % 2 * 2 - 1).float()
    smooth = torch.cos(2 * torch.pi * xx / 32).float().expand(1, 3, 32, 32)
    gain = lambda g: (basis(g).norm() / g.norm()).item()
    assert gain(checker) < 0.01 * gain(smooth)
    assert set(BASES) == {"pixel", "colour", "fourier"}


def test_the_colour_basis_prefers_grey_steps_to_single_channel_ones():
    basis = BASES["colour"]()
    grey, red = torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)
    grey[:] = 1.0
    red[:, 0] = 3 ** 0.5   # the same length
    gain = lambda g: (basis(g).norm() / g.norm()).item()
    assert gain(red) < 0.6 * gain(grey)          # a single-channel step is damped to about half
    cosine = torch.nn.functional.cosine_similarity(basis(red).flatten(), grey.flatten(), 0)
    assert cosine > 0.95                          # and turned towards grey (the red step's own: 0.58)


def test_the_stem_prior_lowers_saturation():
    """Gradient ascent on -stem_prior alone takes saturated colour ramps towards the photo model's
    first-layer statistics, and so towards less saturated colours."""
    from server.synthesis import load_model
    model = load_model("imagenette-rn18w75-l2")
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 128), torch.linspace(0, 1, 128), indexing="ij")
    low = torch.full_like(xx, 0.05)
    x0 = torch.stack([torch.stack([0.9 * xx + 0.05, low, 0.95 - 0.9 * xx]),     # red to blue
                      torch.stack([low, 0.9 * yy + 0.05, 0.95 - 0.9 * yy])])    # green to blue
    prior = stem_prior(*model.stem_statistics())
    r = optimize(model, x0, -1 * prior, steps=10, step_size=4.0, constraint=Ball("l2", 40.0))

    def saturation(x):
        hi, lo = x.max(1).values, x.min(1).values
        return ((hi - lo) / hi.clamp_min(1e-6)).mean().item()
    assert (-r.trace[:, -1] < -0.7 * r.trace[:, 0]).all()     # the prior fell by more than 30%
    assert saturation(r.images) < saturation(x0) - 0.15


def test_outputs_carry_the_stem_and_the_prior_reads_it(tiny_model):
    out = tiny_model.outputs(X0)
    assert out.stem.shape == (2, tiny_model.backbone.bn1.num_features, 32, 32)
    with torch.no_grad():
        assert torch.allclose(out.stem, tiny_model.backbone.bn1(tiny_model.backbone.conv1(tiny_model.normalize(X0))),
                              atol=1e-4)
    mean, std = tiny_model.stem_statistics()
    natural = Outputs(X0, None, None, None, stem=mean.view(1, -1, 1, 1) + std.view(1, -1, 1, 1) * torch.randn(2, len(mean), 32, 32))
    assert (stem_prior(mean, std)(natural) < 0.05).all()


# ---- the tasks and the registry -------------------------------------------------------------------

@pytest.mark.parametrize("task", ["generate", "sketch"])
def test_task_levers_reproduce_and_differ_from_their_absence(task):
    model = tiny_with_seeds()
    inputs = {"generate": {"class_": ["cat"], "n": 2}, "sketch": {"image": torch.rand(3, 32, 32), "class_": 2}}[task]
    on = {"jitter": 2.0, "flip": "on", "basis": "fourier", "noise": 0.3, "bn_prior": 0.1}
    if task == "sketch":
        on["blend"] = 0.3
    a, b = (tasks.run(model, task, seed=1, steps=4, **inputs, **on) for _ in range(2))
    off = tasks.run(model, task, seed=1, steps=4, **inputs)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, off.images)
    assert tasks.rerun(model, a.recipe).images.equal(a.images)


def test_a_recipe_from_before_the_levers_reruns_without_them(monkeypatch):
    """Settings a recipe lacks take their legacy value (off), not today's default."""
    model = tiny_with_seeds()
    out = tasks.run(model, "generate", class_=["cat"], n=2, seed=3, steps=4)
    for name in LOOKS:
        del out.recipe.settings[name]
    monkeypatch.setitem(tasks.TASKS["generate"].reference, "jitter", 3.0)
    monkeypatch.setitem(tasks.TASKS["generate"].reference, "basis", "fourier")
    assert tasks.rerun(model, out.recipe).images.equal(out.images)
    assert not tasks.run(model, "generate", class_=["cat"], n=2, seed=3, steps=4).images.equal(out.images)


def test_legacy_values_are_off():
    assert LOOKS_OFF == {"basis": "pixel", "noise": 0.0, "jitter": 0.0, "flip": "off", "bn_prior": 0.0}
    assert SETTINGS["blend"].legacy == 0.0


@pytest.mark.parametrize("task, body, field", [
    ("generate", {"class": "cat", "noise": -1}, "noise"),
    ("generate", {"class": "cat", "noise": 11}, "noise"),
    ("generate", {"class": "cat", "jitter": -2}, "jitter"),
    ("generate", {"class": "cat", "bn_prior": -0.1}, "bn_prior"),
    ("generate", {"class": "cat", "basis": "wavelet"}, "basis"),
    ("generate", {"class": "cat", "flip": "maybe"}, "flip"),
    ("sketch", {"class": "cat", "image": picture(), "blend": 1.5}, "blend"),
    ("sketch", {"class": "cat", "image": picture(), "jitter": 2000}, "jitter"),
])
def test_out_of_range_levers_are_422_naming_the_field(task, body, field):
    with api_client() as client:
        response = client.post(f"/api/tasks/{task}", json=body)
    assert response.status_code == 422
    assert field_of(response) == field
