"""The one primitive: step geometry, objectives that compose and rise, determinism, callbacks."""
import pytest
import torch

from server.synthesis import Ball, KnownPixels, class_score, feature, logit, masked_mse, optimize, random_start
from server.synthesis.objectives import Objective, cross_entropy
from server.synthesis.constraints import stack
from server.synthesis.problem import Problem, solve, solve_batch
from server.synthesis.steps import RULES, STEPS, L2Step, LinfStep, make_step


def _norms(d, p):
    return d.flatten(1).norm(p=p, dim=1)


@pytest.mark.parametrize("name", sorted(STEPS))
def test_every_step_class_projects_into_its_ball(name):
    center = torch.rand(4, 3, 8, 8)
    step = make_step(name, center, eps=0.3, step_size=0.1)
    x = step.project(center + torch.randn_like(center))
    if name == "l2":
        assert (_norms(x - center, 2) <= 0.3 + 1e-5).all()
    elif name == "linf":
        assert (x - center).abs().max() <= 0.3 + 1e-6
    assert torch.allclose(step.project(x), x, atol=1e-6)  # projecting twice changes nothing


def test_l2_step_moves_exactly_step_size_and_linf_step_by_sign():
    x, g = torch.zeros(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert torch.allclose(_norms(L2Step(x, 1.0, 0.25).step(x, g) - x, 2), torch.full((2,), 0.25))
    assert torch.equal(LinfStep(x, 1.0, 0.1).step(x, g) - x, 0.1 * g.sign())


def test_unknown_constraint_and_bad_step_size_are_refused():
    x = torch.zeros(1, 3, 4, 4)
    with pytest.raises(ValueError, match="unknown constraint"):
        make_step("l7", x, 1.0, 0.1)
    with pytest.raises(ValueError, match="step_size"):
        make_step("l2", x, 1.0, 0.0)
    assert isinstance(make_step(LinfStep, x, 1.0, 0.1), LinfStep)


@pytest.mark.parametrize("objective", [class_score(3), logit(3), feature(5), cross_entropy(0),
                                       class_score(3) - 10 * masked_mse(torch.full((2, 3, 32, 32), 0.5))])
def test_every_objective_rises(tiny_model, objective):
    x0 = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    r = optimize(tiny_model, x0, objective, steps=8, step_size=0.1)
    assert (r.trace[:, -1] > r.trace[:, 0]).all(), objective.description


@pytest.mark.parametrize("constraint,p", [("l2", 2), ("linf", float("inf"))])
def test_result_respects_eps_and_pixel_range(tiny_model, constraint, p):
    x0 = torch.rand(3, 3, 32, 32)
    eps = 0.5 if constraint == "l2" else 4 / 255
    ball = Ball(constraint, eps, center=x0)
    r = optimize(tiny_model, random_start(x0, ball, eps / 2), class_score(1), steps=10, step_size=eps / 2,
                 constraint=ball)
    assert (_norms(r.images - x0, p) <= eps + 1e-4).all()
    assert r.images.min() >= 0 and r.images.max() <= 1
    assert r.trace.shape == (3, 11)


def test_same_seed_same_images_other_seed_other_images(tiny_model):
    x0 = torch.rand(2, 3, 32, 32)
    ball = Ball("l2", 0.5, center=x0)
    run = lambda seed: optimize(tiny_model, random_start(x0, ball, 0.1, seed), class_score(2), steps=3, step_size=0.1,
                                constraint=ball).images
    assert torch.equal(run(7), run(7))
    assert not torch.equal(run(7), run(8))


def test_masked_penalty_keeps_pixels_outside_the_region(tiny_model):
    x0 = torch.rand(1, 3, 32, 32)
    keep = torch.ones(1, 1, 32, 32)
    keep[..., 8:24, 8:24] = 0
    objective = class_score(4) - 1000 * masked_mse(x0, keep)
    r = optimize(tiny_model, x0, objective, steps=20, step_size=0.2)
    inside = (r.images - x0).abs()[..., 8:24, 8:24].mean()
    outside = ((r.images - x0).abs() * keep).sum() / (3 * keep.sum())
    assert inside > 5 * outside


def test_callback_sees_every_step_and_can_stop(tiny_model):
    seen = []
    r = optimize(tiny_model, torch.rand(1, 3, 32, 32), class_score(0), steps=10, step_size=0.1,
                 callback=lambda p: seen.append(p.step) or p.step == 4)
    assert seen == [0, 1, 2, 3, 4] and r.stopped and r.steps_done == 4


def test_model_is_left_as_it_was_and_parameters_get_no_gradient(tiny_model):
    tiny_model.train()
    optimize(tiny_model, torch.rand(1, 3, 32, 32), class_score(0), steps=2, step_size=0.1)
    assert tiny_model.training
    assert all(p.requires_grad and p.grad is None for p in tiny_model.parameters())


def test_objectives_compose_with_readable_descriptions():
    obj = 0.1 * feature(3) - 90 * masked_mse(torch.zeros(1))
    assert obj.description == "0.1 * feature(3) - 90 * mse"
    assert (-class_score(1)).description == "-1 * class_score(1)"


@pytest.mark.parametrize("cls", sorted(STEPS.values(), key=lambda c: c.name), ids=lambda c: c.name)
def test_every_registered_step_class_climbs_and_stays_feasible(tiny_model, cls):
    """Each class in STEPS, handed to `optimize` as a class: its projection is feasible (within eps of
    the start, in its own norm; pixels in [0,1]) at every step, and the objective rises."""
    x0 = 0.25 + 0.5 * torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    eps = {"l2": 0.5, "linf": 4 / 255}.get(cls.name, 0.0)
    distance = {"l2": lambda d: _norms(d, 2), "linf": lambda d: _norms(d, float("inf"))}.get(cls.name)
    seen = []
    ball, step_size = Ball(cls, eps, center=x0), max(eps, 0.1) / 2
    r = optimize(tiny_model, random_start(x0, ball, step_size), class_score(3), steps=6, step_size=step_size,
                 constraint=ball, callback=lambda p: seen.append(p.x.clone()) and False)
    assert (r.trace[:, -1] > r.trace[:, 0]).all(), (cls.name, r.trace)
    assert r.images.min() >= 0 and r.images.max() <= 1
    assert not torch.equal(r.images, x0)
    if distance is not None:
        for images in (*seen, r.images):
            assert (distance(images - x0) <= eps + 1e-5).all(), cls.name


def test_bfloat16_autocast_climbs_like_float32(tiny_model):
    x0 = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    objective = class_score(torch.tensor([0, 1, 2, 3]))
    exact = optimize(tiny_model, x0, objective, steps=5, step_size=0.5, constraint=Ball("l2", 2.0))
    fast = optimize(tiny_model, x0, objective, steps=5, step_size=0.5, constraint=Ball("l2", 2.0), amp=True)
    assert fast.images.dtype == torch.float32
    assert (fast.trace[:, -1] > fast.trace[:, 0]).all()
    assert ((fast.images - x0).flatten(1).norm(dim=1) <= 2.0 + 1e-4).all()
    # Same path up to bfloat16 rounding of the gradient's direction.
    assert (fast.images - exact.images).abs().mean() < 0.02


# ---- update rules, early stopping, fixed pixels ------------------------------------------------

@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_raises_the_objective_and_stays_in_the_ball(tiny_model, rule):
    x0 = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    r = optimize(tiny_model, x0, class_score(3), steps=8, step_size=0.2, constraint=Ball("l2", 1.0), rule=rule)
    assert (r.trace[:, -1] > r.trace[:, 0]).all(), rule
    assert (_norms(r.images - x0, 2) <= 1.0 + 1e-4).all()


def test_cosine_schedule_decays_from_step_size_to_its_floor():
    rule = RULES["cosine"](steps=5)
    scales = [rule.next_scale() for _ in range(5)]
    assert scales[0] == 1.0 and abs(scales[-1] - rule.FLOOR) < 1e-9
    assert scales == sorted(scales, reverse=True)
    with pytest.raises(ValueError, match="unknown rule"):
        make_step("l2", torch.zeros(1, 3, 4, 4), 1.0, 0.1, rule="sgd")


def _capped_mean(caps):
    """Objective: the mean pixel value, capped per example; it rises 0.1 a step at CAP_STEP, then stops."""
    caps = torch.tensor(caps)
    return Objective(lambda o: o.x.flatten(1).mean(1).clamp(max=caps), "capped mean")


CAP_STEP = 0.1 * (3 * 32 * 32) ** 0.5   # an L2 step of this size raises the mean of every pixel by 0.1


def test_early_stopping_stops_when_the_objective_plateaus_and_not_before(tiny_model):
    x0 = torch.full((2, 3, 32, 32), 0.1)
    run = lambda caps, patience: optimize(tiny_model, x0, _capped_mean(caps), steps=7, step_size=CAP_STEP,
                                          patience=patience)
    both_flat = run([0.35, 0.35], 2)       # the cap is reached at step 3, flat from then on
    assert both_flat.steps_done == 5 and both_flat.trace.shape == (2, 6) and both_flat.settled_at.tolist() == [5, 5]
    one_rising = run([0.35, 10.0], 2)      # the other example rises to the end: the run goes on
    assert one_rising.steps_done == 7 and one_rising.settled_at.tolist() == [5, 7]
    assert torch.allclose(one_rising.trace[1], torch.arange(8) * 0.1 + 0.1)
    assert run([0.35, 0.35], 0).steps_done == 7  # no patience: every step


def test_settled_examples_stop_moving(tiny_model):
    x0 = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    objective = Objective(lambda o: -(o.x - 0.5).flatten(1).abs().mean(1).clamp_min(torch.tensor([0.2, 0.0])),
                          "flat for the first example")
    r = optimize(tiny_model, x0, objective, steps=6, step_size=2.0, patience=2)
    settled = int(r.settled_at[0])
    assert settled < 6 and r.steps_done == 6
    again = optimize(tiny_model, x0, objective, steps=settled, step_size=2.0)
    assert torch.equal(r.images[0], again.images[0])


def test_free_mask_keeps_the_other_pixels_bitwise_and_spends_the_step_on_the_free_ones(tiny_model):
    x0 = 0.25 + 0.5 * torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    free = torch.zeros(2, 1, 32, 32, dtype=torch.bool)
    free[..., 10:20, 5:25] = True
    fixed = (~free).expand_as(x0)
    known = Ball("l2", 1.0, center=x0) & KnownPixels(free)
    for rule in RULES:
        r = optimize(tiny_model, random_start(x0, known, 0.3), class_score(1), steps=5, step_size=0.3,
                     constraint=known, rule=rule)
        assert torch.equal(r.images[fixed], x0[fixed]), rule
    one = optimize(tiny_model, x0, class_score(1), steps=1, step_size=0.3,
                   constraint=Ball("l2", 1.0) & KnownPixels(free))
    assert torch.allclose(_norms(one.images - x0, 2), torch.full((2,), 0.3))  # the whole step, in the free pixels


def test_solve_batch_with_early_stopping_gives_each_problem_its_own_run(tiny_model):
    problems = [Problem(x0=torch.full((1, 3, 32, 32), 0.1), objective=_capped_mean([cap]), steps=7,
                        step_size=CAP_STEP, patience=2) for cap in (0.35, 10.0)]
    batched = solve_batch(tiny_model, problems)
    assert [r.steps_done for r in batched] == [5, 7]
    for p, r in zip(problems, batched):
        alone = solve(tiny_model, p)
        assert r.steps_done == alone.steps_done
        assert torch.equal(r.trace, alone.trace) and torch.equal(r.images, alone.images)


def _verdict(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


def test_the_result_carries_the_models_verdict_on_its_images_without_another_pass(tiny_model):
    """`Result.classes` is read off the pass that scored the returned images, at every way a run can end."""
    x0 = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    ends = {"every step": {}, "early stopping": {"patience": 1},
            "cancelled": {"callback": lambda p: p.step == 2}}
    for name, options in ends.items():
        r = optimize(tiny_model, x0, class_score(y), steps=6, step_size=1.0, constraint=Ball("l2", 3.0), **options)
        assert torch.equal(r.classes, _verdict(tiny_model, r.images)), name
    problems = [Problem(x0=x0[:2], objective=class_score(3), steps=4, step_size=1.0, constraint=Ball("l2", 3.0)),
                Problem(x0=x0[2:], objective=class_score(7), steps=4, step_size=1.0, constraint=Ball("l2", 3.0))]
    for r in solve_batch(tiny_model, problems):
        assert torch.equal(r.classes, _verdict(tiny_model, r.images))
    adversary = optimize(tiny_model, x0, cross_entropy(y), steps=2, step_size=1.0, constraint=Ball("l2", 3.0),
                         score_final=False)
    assert adversary.classes is None   # no pass saw the final images


# ---- constraints --------------------------------------------------------------------------------

def _free(n=2, size=8):
    free = torch.zeros(n, 1, size, size, dtype=torch.bool)
    free[..., 2:6, 1:7] = True
    return free


@pytest.mark.parametrize("name", ["l2", "linf", "known", "l2 & known"])
def test_every_constraint_projects_into_its_set_and_its_tangent_keeps_there(name):
    x0 = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    free = _free()
    constraint = {"l2": Ball("l2", 0.3), "linf": Ball("linf", 0.05), "known": KnownPixels(free),
                  "l2 & known": Ball("l2", 0.3) & KnownPixels(free)}[name]
    bound = constraint.at(x0)
    x = bound.project(x0 + torch.randn(x0.shape, generator=torch.Generator().manual_seed(5)))
    assert x.min() >= 0 and x.max() <= 1                       # every bound constraint keeps pixels in range
    assert torch.allclose(bound.project(x), x, atol=1e-6)       # projecting twice changes nothing
    if "l2" in name:
        assert (_norms(x - x0, 2) <= 0.3 + 1e-5).all()
    if name == "linf":
        assert (x - x0).abs().max() <= 0.05 + 1e-6
    if "known" in name:
        fixed = (~free).expand_as(x0)
        assert torch.equal(x[fixed], x0[fixed])
        assert not bound.tangent(torch.ones_like(x0))[fixed].any()   # no step along a known pixel


def test_an_unknown_norm_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown constraint"):
        Ball("l7", 1.0)
    with pytest.raises(ValueError, match="eps"):
        Ball("l2", -1.0)


def test_stacked_constraints_act_on_each_problem_as_its_own():
    starts = [torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    free = _free(1)
    parts = [Ball("l2", 0.3) & KnownPixels(free), Ball("l2", 0.3)]   # one keeps pixels, the other does not
    together = stack(parts, starts)
    y = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(9))
    alone = torch.cat([c.at(x0).project(y[i:i + 1]) for i, (c, x0) in enumerate(zip(parts, starts))])
    assert torch.equal(together.project(y), alone)
    with pytest.raises(ValueError, match="share their ball"):
        stack([Ball("l2", 0.3), Ball("l2", 0.5)], starts)
