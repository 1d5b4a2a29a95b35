"""Optimizer speed: our `optimize` vs the robustness library's attacker on the same weights, in both
of the forms its users run class maximization: the plain targeted attack (its own cross-entropy
criterion: one forward and one backward per step) and the `custom_loss` path (two forwards per step).
Ours runs as shipped (the folded fast path, bf16 where `precision.use_bf16` says it pays, and on a
GPU the step replayed from a CUDA graph), as before issue 10 (`bench.common.before_issue_10`: no
fast path, fp32, no graph), in forced bf16, and on a GPU also without the CUDA graph.

    python -m bench.speed [--model ID_OR_PATH] [--robustness PATH] [--steps 20] [--batches 1 64] [--device cuda]

Reports images x steps / s for each batch size, a parity check (same start, same steps: the
two loops should agree), where the time goes (torch.profiler, CPU only), and the fraction of this
machine's measured fp32 matmul throughput that a step reaches (on a GPU: of its bf16 matmul rate).

The `robustness` package (MadryLab) is not a dependency: install it outside the project, e.g.
`pip install --no-deps --target /tmp/rlib robustness`, and pass --robustness /tmp/rlib. It no
longer imports cleanly and calls .cuda() unconditionally; the shims below stub its unused
imports (dill, pandas, cox) and make .cuda() a no-op on a CPU-only machine, for this script only.
"""
import importlib.machinery
import sys
import types
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from bench.common import before_issue_10, bench_parser, environ, load, synced, test_images, timed, timed_alternating
from server.synthesis import Ball, class_score, optimize
from server.synthesis.graphs import use_cuda_graph
from server.synthesis.precision import use_bf16


def import_attacker_model(path: str | None):
    if path:
        sys.path.insert(0, path)
    for name in ("dill", "pandas", "cox", "cox.store"):  # imported at module level, unused by the attacker
        try:
            __import__(name)
        except ImportError:
            stub = sys.modules[name] = types.ModuleType(name)
            stub.__spec__ = importlib.machinery.ModuleSpec(name, None)  # torch._dynamo inspects specs
    sys.modules["cox"].store = sys.modules["cox.store"]
    from robustness.attacker import AttackerModel
    return AttackerModel


@contextmanager
def cuda_is_noop():
    """The attacker calls `orig_input.cuda()`; on a machine without CUDA, keep tensors where they are."""
    if torch.cuda.is_available():
        yield
        return
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self
    try:
        yield
    finally:
        torch.Tensor.cuda = original


class LibraryNet(torch.nn.Module):
    """Our backbone behind the forward signature AttackerModel expects (it normalizes itself)."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, x, with_latent=False, fake_relu=False, no_relu=False):
        return self.backbone(x)


def library_attacker(model, AttackerModel):
    dataset = types.SimpleNamespace(mean=model.mean.view(3).cpu(), std=model.std.view(3).cpu())
    return AttackerModel(LibraryNet(model.backbone), dataset).to(model.device).eval()


def run_library(attacker, x, y, steps, step_size, eps, use_best=True, custom=True):
    """Their targeted attack; `custom`: through `custom_loss` (a second forward inside the loss)."""
    def targeted_ce(net, inp, target):  # their custom_loss: minimized with targeted=True
        return F.cross_entropy(net(inp), target, reduction="none"), None

    with cuda_is_noop():
        _, images = attacker(x, y, make_adv=True, constraint="2", eps=eps, step_size=step_size, iterations=steps,
                             targeted=True, custom_loss=targeted_ce if custom else None, use_best=use_best)
    return images


def run_ours(model, x, y, steps, step_size, eps, amp=None, before=False, graph=True):
    with before_issue_10(before), environ(ROBUST_CANVAS_CUDA_GRAPHS=None if graph else "off"):
        return optimize(model, x, class_score(y), steps=steps, step_size=step_size,
                        constraint=Ball("l2", eps), amp=amp).images


def matmul_gflops(device, dtype=torch.float32) -> float:
    n = 8192 if torch.device(device).type == "cuda" else 2048   # a size that fills the machine
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    return 2 * n ** 3 / timed(synced(lambda: a @ b, device), repeats=5) / 1e9


def flops_per_image_step(model, x, y) -> float:
    """Forward + backward to the input, counted by torch's FLOP counter (convs and matmuls)."""
    with FlopCounterMode(display=False) as counter, before_issue_10():  # it knows aten's convolutions only
        optimize(model, x, class_score(y), steps=1, step_size=0.1, constraint=Ball("l2", 1.0),
                 score_final=False, amp=False)
    return counter.get_total_flops() / len(x)


def main(argv=None):
    ap = bench_parser(__doc__, device="cpu")
    ap.add_argument("--robustness", help="folder holding the `robustness` package")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--no-profile", action="store_true", help="skip the torch.profiler table")
    ap.add_argument("--rounds", type=int, default=3, help="alternating timing rounds (best counts)")
    args = ap.parse_args(argv)
    model = load(args.model, threads=args.threads, device=args.device)
    gpu = model.device.type == "cuda"
    attacker = library_attacker(model, import_attacker_model(args.robustness))
    x_all, y_all = test_images(max(args.batches), model=model)
    x_all, y_all = x_all.to(model.device), y_all.to(model.device)
    eps, step_size = 2.0, 0.25
    where = torch.cuda.get_device_name(model.device) if gpu else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, model {model.meta.id}, {args.steps} steps, L2 eps {eps}, "
          f"step {step_size}")

    # Parity: identical while no pixel sits at exactly 0 or 1. There the library's InputNormalize
    # clamp zeroes the gradient (ours keeps it), so paths part once pixels saturate.
    for steps, label, x in [(3, "images in [0.05, 0.95]", 0.05 + 0.9 * x_all[:8]), (10, "raw test images", x_all[:8])]:
        ours = run_ours(model, x, y_all[:8], steps, step_size, eps, amp=False)
        theirs = run_library(attacker, x, y_all[:8], steps, step_size, eps, use_best=False)
        print(f"parity, {steps} steps, {label}: max |ours - library| = {(ours - theirs).abs().max():.2e}")
    x, y = x_all[:8], y_all[:8]

    peak_dtype = torch.bfloat16 if gpu else torch.float32
    gflops = matmul_gflops(model.device, peak_dtype)
    per_step = flops_per_image_step(model, x, y)
    print(f"matmul {str(peak_dtype)[6:]}: {gflops:.1f} GFLOP/s; one image-step = {per_step / 1e9:.3f} GFLOP")
    loops = {
        "plain": lambda: run_library(attacker, x, y, args.steps, step_size, eps, custom=False),
        "custom": lambda: run_library(attacker, x, y, args.steps, step_size, eps),
        "before": lambda: run_ours(model, x, y, args.steps, step_size, eps, before=True),
        "ours": lambda: run_ours(model, x, y, args.steps, step_size, eps),
        "amp": lambda: run_ours(model, x, y, args.steps, step_size, eps, amp=True),
        "fp32": lambda: run_ours(model, x, y, args.steps, step_size, eps, amp=False)}
    if gpu:
        loops["no graph"] = lambda: run_ours(model, x, y, args.steps, step_size, eps, graph=False)
    print("| batch | library, plain targeted attack (img*step/s) | library, custom_loss | ours before issue 10 "
          "| ours as shipped | bf16? | CUDA graph? | vs plain | vs custom_loss | vs before | ours, bf16 forced "
          f"| ours, fp32 forced{' | ours, no CUDA graph' if gpu else ''} "
          f"| ours as shipped, % of {str(peak_dtype)[6:]} matmul peak |")
    print(f"|---|---|---|---|---|---|---|---|---|---|---|---|{'---|' if gpu else ''}---|")
    for n in args.batches:
        x, y = x_all[:n], y_all[:n]
        t = timed_alternating({name: synced(fn, model.device) for name, fn in loops.items()}, args.rounds)
        rate = {name: n * args.steps / seconds for name, seconds in t.items()}
        plain, custom, before, ours = (rate[k] for k in ("plain", "custom", "before", "ours"))
        no_graph = f" | {rate['no graph']:.1f}" if gpu else ""
        yes = {True: "yes", False: "no"}
        print(f"| {n} | {plain:.1f} | {custom:.1f} | {before:.1f} | {ours:.1f} | {yes[use_bf16(x.device, n)]} "
              f"| {yes[use_cuda_graph(x.device, args.steps)]} | **{ours / plain:.2f}x** | {ours / custom:.2f}x "
              f"| {ours / before:.2f}x | {rate['amp']:.1f} | {rate['fp32']:.1f}{no_graph} "
              f"| {100 * ours * per_step / 1e9 / gflops:.0f}% |", flush=True)

    if args.no_profile or gpu:
        return
    n = max(args.batches)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run_ours(model, x_all[:n], y_all[:n], 3, step_size, eps)
    print(f"\nprofile of ours, batch {n}, 3 steps (self CPU time):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
