"""The optimizer's fast path (a folded copy: batch norm folded, input gradients as forward
convolutions; models/folded.py) gives the plain path's results to float32 rounding, and is used
only while nothing needs parameter gradients."""
from contextlib import contextmanager

import pytest
import torch

from server.synthesis import Ball, class_score, feature, load_model, masked_mse, optimize
from server.synthesis.models.folded import INPUT_GRAD_MIN_BATCH
from server.synthesis.models.loading import local_model_ids
from server.synthesis.models.robust_model import RobustModel
from server.synthesis.graphs import GradientStep
from server.synthesis.optimizer import fixed_weights

from tests.conftest import make_tiny_model

SHIPPED = [m for m in ("cifar10-rn18h-l2", "imagenette-rn18w75-l2") if m in local_model_ids()]


@contextmanager
def fast_path(on: bool):
    saved = RobustModel.fast_path
    RobustModel.fast_path = on
    try:
        yield
    finally:
        RobustModel.fast_path = saved


def _model(name: str) -> RobustModel:
    return make_tiny_model() if name == "tiny" else load_model(name, device="cpu")


def _inputs(model, n: int = 3):
    size = model.meta.input_size
    x = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))
    objective = class_score(1) + 0.1 * feature(5) - masked_mse(torch.full_like(x, 0.5))
    return x, objective


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest per-example relative L2 difference."""
    return float(_rel_each(a, b).max())


def _rel_each(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return (a - b).norm(dim=1) / b.norm(dim=1).clamp_min(1e-12)


@pytest.mark.parametrize("n", [1, INPUT_GRAD_MIN_BATCH])  # PyTorch's backward / ours as a forward conv
@pytest.mark.parametrize("name", ["tiny", *SHIPPED])
def test_outputs_and_input_gradients_match_the_plain_path(name, n):
    model = _model(name)
    x, objective = _inputs(model, n)
    results = {}
    for on in (False, True):
        with fast_path(on), fixed_weights(model):
            out = model.outputs(x.clone())
            scores, grad, _ = GradientStep(model, objective, amp=False, graph=False)(x)
            results[on] = (out.logits, out.features, scores, grad)
    *values, grad = zip(results[True], results[False])
    for fast, plain in values:
        assert _rel(fast, plain) < 1e-5
    # Gradients to 1e-5 per image, but for at most one image in 8 where a rounding-level difference
    # flips a ReLU or max-pool choice (seen once on the photo model: 3e-4).
    errors = _rel_each(*grad).sort().values
    assert errors[: max(1, n - 1)].max() < 1e-5 and errors.max() < 1e-3


@pytest.mark.parametrize("name", ["tiny", *SHIPPED])
def test_optimize_gives_the_plain_paths_images(name):
    """Pixels to 1e-4 over 3 steps (each step's gradient agrees to 1e-5, above). Longer runs part
    slowly (1e-4 after 10 steps, 1e-3 after 30 on the shipped models): a rounding-level difference
    flips a ReLU or max-pool choice now and then."""
    model = _model(name)
    x, objective = _inputs(model, n=INPUT_GRAD_MIN_BATCH)
    runs = {}
    for on in (False, True):
        with fast_path(on):
            runs[on] = optimize(model, x, objective, steps=3, step_size=0.25, constraint=Ball("l2", 2.0))
    assert (runs[True].images - runs[False].images).abs().max() < 1e-4
    assert _rel(runs[True].trace, runs[False].trace) < 1e-5


def test_the_copy_serves_only_models_with_fixed_weights_and_follows_them(tiny_model):
    x = torch.rand(2, 3, 32, 32)
    assert tiny_model.net() is tiny_model.backbone  # parameters need gradients: the plain backbone
    with fixed_weights(tiny_model):
        copy = tiny_model.net()
        assert copy is not tiny_model.backbone and tiny_model.net() is copy  # built once, then reused
        before = tiny_model(x)
    tiny_model.train()
    assert tiny_model.net() is tiny_model.backbone
    with torch.no_grad():
        tiny_model.backbone.linear.bias.add_(1.0)   # an optimizer step changes the weights in place
        tiny_model(x)                               # and a training pass the batch-norm statistics
    with fixed_weights(tiny_model), torch.no_grad():
        assert tiny_model.net() is copy             # refreshed in place, not rebuilt
        after = tiny_model(x)
        with fast_path(False):
            assert torch.allclose(after, tiny_model(x), atol=1e-5)
    assert not torch.allclose(before, after)
    tiny_model.double()                             # new tensors: a new copy, in float64
    with fixed_weights(tiny_model), torch.no_grad():
        assert tiny_model.net() is not copy
        with fast_path(False):
            assert torch.allclose(tiny_model(x.double()), tiny_model.net()(tiny_model.normalize(x.double())))
    assert not any("folded" in k for k in tiny_model.state_dict())  # the copy is never saved


@pytest.mark.parametrize("name", ["tiny", *SHIPPED])
def test_a_training_step_refreshes_every_value_of_the_copy(name):
    """After SGD steps (weights and batch-norm statistics change in place) the refreshed copy gives the
    plain path's logits, as a copy built afresh does."""
    model = _model(name)
    x, _ = _inputs(model, n=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    with fixed_weights(model):
        model.net()                                 # the copy exists before training moves on
    for p in model.parameters():
        p.requires_grad_(True)
    model.train()
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3])).backward()
        opt.step()
    with fixed_weights(model), torch.no_grad():
        refreshed = model(x)
        with fast_path(False):
            plain = model(x)
    assert _rel(refreshed, plain) < 1e-5


def test_bf16_on_the_fast_path_raises_the_objective_like_fp32(tiny_model):
    """bf16 is judged by quality, not pixels (BENCHMARKS.md): here, every example's objective rises,
    on average by as much as in fp32 to within 2x (a random tiny model's gains are small and noisy)."""
    x, objective = _inputs(tiny_model, n=INPUT_GRAD_MIN_BATCH)
    fp32 = optimize(tiny_model, x, objective, steps=5, step_size=0.25, constraint=Ball("l2", 2.0), amp=False)
    bf16 = optimize(tiny_model, x, objective, steps=5, step_size=0.25, constraint=Ball("l2", 2.0), amp=True)
    assert (bf16.trace[:, -1] > bf16.trace[:, 0]).all()
    gain32, gain16 = fp32.trace[:, -1] - fp32.trace[:, 0], bf16.trace[:, -1] - bf16.trace[:, 0]
    assert 0.5 < gain16.mean() / gain32.mean() < 2
