"""The optimizer's hot path: one step's objective and input gradient, run eagerly or replayed
from a CUDA graph.

On a GPU a step at small batches is bound by launching a few hundred small kernels, not by
their arithmetic (docs/BENCHMARKS.md): capturing the step once per optimizer run and replaying
it removes the launches. The first step runs eagerly (it warms up the kernels, builds the folded
copy of the model and moves the objective's tensors to the GPU), the second is captured, every
later one replays. So an objective must do the same operations at every step, a function of the
model's outputs alone (every objective in objectives.py is): one that changed with the step (a
schedule kept in Python) would replay its second step's form. An objective that cannot be
captured (one that reads a value back to the host, say) makes the run go on eagerly, with a
warning. ROBUST_CANVAS_CUDA_GRAPHS=on|off overrides the rule.
"""
import warnings

import torch

from .precision import forced_switch

MIN_STEPS = 4   # capturing costs about two eager steps: not worth it for one or two
CAPTURE_MODE = "thread_local"   # other threads (other jobs, the palette) may use the GPU meanwhile


def use_cuda_graph(device: torch.device | str, grad_steps: int) -> bool:
    """Replay a CUDA graph for an optimizer run of `grad_steps` gradient steps on `device`?"""
    if torch.device(device).type != "cuda":
        return False
    forced = forced_switch("ROBUST_CANVAS_CUDA_GRAPHS")
    return grad_steps >= MIN_STEPS if forced is None else forced


class GradientStep:
    """(scores, input gradient, predicted classes) at x: `objective(model.outputs(x))` and its
    gradient, float32 and detached, and the argmax of the logits of the same pass."""

    def __init__(self, model, objective, amp: bool, graph: bool):
        self.model, self.objective, self.amp, self.use_graph = model, objective, amp, graph
        # the objective's random view of the images (objectives.transformed), freshly seeded per run
        self.view = objective.view.sampler() if getattr(objective, "view", None) is not None else None
        self.graph = self.static_x = self.static_out = None
        self.warmed_up = False

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not self.use_graph:
            return self.eager(x)
        if self.graph is not None:
            return self.replay(x)
        if not self.warmed_up:
            self.warmed_up = True
            return self.warm_up(x)
        return self.capture(x)

    def eager(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = x.detach().requires_grad_(True)
        # A cast cached by autocast would live outside the graph's memory: no cache while graphing.
        with torch.enable_grad(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.amp,
                                                 cache_enabled=not self.use_graph):
            out = self.model.outputs(x if self.view is None else self.view(x))
            scores = self.objective(out)
            # Examples are independent (eval-mode BN), so the gradient of the sum is per-example.
            (grad,) = torch.autograd.grad(scores.sum(), x)
        return scores.detach().float(), grad.float(), out.logits.detach().argmax(1)

    def warm_up(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """An eager step on a side stream, as CUDA graph capture wants its warm-up."""
        side = torch.cuda.Stream(x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):
            out = self.eager(x)
        torch.cuda.current_stream(x.device).wait_stream(side)
        return out

    def capture(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # CUDAGraph's own capture calls rather than `torch.cuda.graph`, which empties the whole
        # allocator cache (and synchronizes the device) at every capture, i.e. every optimizer run.
        self.static_x = x.detach().clone()
        graph, side = torch.cuda.CUDAGraph(), torch.cuda.Stream(x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        try:
            with torch.cuda.stream(side):
                graph.capture_begin(capture_error_mode=CAPTURE_MODE)
                try:
                    self.static_out = self.eager(self.static_x)
                finally:
                    graph.capture_end()
        except Exception as error:   # noqa: BLE001 -- any capture failure: go on eagerly
            warnings.warn(f"CUDA graph capture failed, the run goes on eagerly: {error}", RuntimeWarning)
            self.use_graph, self.static_x, self.static_out = False, None, None
            return self.eager(x)
        torch.cuda.current_stream(x.device).wait_stream(side)
        self.graph = graph
        return self.replay(x)

    def replay(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self.static_x.copy_(x)
        self.graph.replay()
        return tuple(t.clone() for t in self.static_out)
