"""On a GPU the optimizer replays each step from a CUDA graph (graphs.py): same results as the eager
loop, for every task; an objective that cannot be captured runs eagerly with a warning. The rule
itself (when to graph) is checked everywhere; the replays only where CUDA is."""
import warnings

import pytest
import torch

from server.synthesis import Ball, class_score, optimize, tasks
from server.synthesis.graphs import MIN_STEPS, GradientStep, use_cuda_graph
from server.synthesis.objectives import Objective
from server.synthesis.optimizer import fixed_weights
from tests.api_support import tiny_with_seeds
from tests.model_support import task_inputs

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_the_rule_graphs_gpu_runs_of_a_few_steps_only(monkeypatch):
    monkeypatch.delenv("ROBUST_CANVAS_CUDA_GRAPHS", raising=False)
    assert not use_cuda_graph("cpu", 100)
    assert use_cuda_graph("cuda", MIN_STEPS) and not use_cuda_graph("cuda", MIN_STEPS - 1)
    monkeypatch.setenv("ROBUST_CANVAS_CUDA_GRAPHS", "off")
    assert not use_cuda_graph("cuda", 100)
    monkeypatch.setenv("ROBUST_CANVAS_CUDA_GRAPHS", "on")
    assert use_cuda_graph("cuda", 1) and not use_cuda_graph("cpu", 100)


def _solve(model, problem, graphs: str, monkeypatch):
    monkeypatch.setenv("ROBUST_CANVAS_CUDA_GRAPHS", graphs)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)   # a failed capture warns: fail the test instead
        return tasks.solve(model, problem)


@cuda
@pytest.mark.parametrize("task", list(tasks.TASKS))
def test_graph_replays_give_the_eager_results_for_every_task(task, monkeypatch):
    model = tiny_with_seeds().cuda()
    problem = tasks.build(model, task, seed=4, steps=8, **task_inputs()[task])
    graphed, eager = (_solve(model, problem, mode, monkeypatch) for mode in ("on", "off"))
    assert (graphed.images - eager.images).abs().max() < 1e-5
    assert torch.allclose(graphed.trace, eager.trace, rtol=1e-5, atol=1e-5)


@cuda
@pytest.mark.parametrize("n", [1, 16])   # 16: the input gradient as a forward convolution
def test_graph_replays_of_the_shipped_default_model(n, monkeypatch):
    from server.synthesis.models.loading import load_model
    # TF32 rounds each convolution's inputs to 10 bits, and rounding differences grow over steps:
    # compare exact float32 arithmetic.
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    model = load_model(None, device="cuda")
    size = model.meta.input_size
    x = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0)).cuda()
    y = torch.arange(n).cuda() % model.meta.num_classes
    objective = class_score(y)
    with fixed_weights(model):
        graphed, eager = GradientStep(model, objective, False, graph=True), GradientStep(model, objective, False, False)
        reference = eager(x)
        for _ in range(3):   # the warm-up, the capture and its first replay, a replay
            scores, grad, classes = graphed(x)
            assert torch.allclose(scores, reference[0], rtol=1e-5, atol=1e-5)
            assert (grad - reference[1]).norm() < 1e-5 * reference[1].norm()
            assert torch.equal(classes, reference[2])
        assert graphed.graph is not None
    # Whole runs: max-pool's backward adds with atomics in any order, so eager runs themselves part
    # at rounding level, and the parting grows with steps (to 3e-3 after 10 steps of 1.0 at batch 16).
    runs = {}
    for mode in ("on", "off"):
        monkeypatch.setenv("ROBUST_CANVAS_CUDA_GRAPHS", mode)
        runs[mode] = optimize(model, x, objective, steps=4, step_size=0.25, constraint=Ball("l2", 2.0))
    assert (runs["on"].images - runs["off"].images).abs().max() < 1e-4
    assert runs["on"].trace[:, -1].mean() > runs["on"].trace[:, 0].mean()


@cuda
def test_an_objective_that_cannot_be_captured_runs_eagerly_with_a_warning(monkeypatch):
    model = tiny_with_seeds().cuda()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)).cuda()
    score = class_score(3)
    syncing = Objective(lambda o: score(o) + 0 * float(o.logits.sum()), "syncs with the host")   # .item()
    monkeypatch.setenv("ROBUST_CANVAS_CUDA_GRAPHS", "on")
    with pytest.warns(RuntimeWarning, match="CUDA graph capture failed"):
        graphed = optimize(model, x, syncing, steps=6, step_size=0.5, constraint=Ball("l2", 2.0))
    monkeypatch.setenv("ROBUST_CANVAS_CUDA_GRAPHS", "off")
    eager = optimize(model, x, syncing, steps=6, step_size=0.5, constraint=Ball("l2", 2.0))
    assert torch.equal(graphed.images, eager.images)
    # and the GPU is still usable afterwards
    assert optimize(model, x, score, steps=6, step_size=0.5, constraint=Ball("l2", 2.0)).trace.isfinite().all()
