"""Each of the optimizer's speed levers turned off alone, against the loop as shipped: interleaved
rounds on the same images, so that contention cancels in the ratios (best round counts).

    python -m bench.levers [--model ID_OR_PATH] [--device cuda] [--batches 1 16 64] [--steps 60]

Levers: the folded copy (batch norm folded; `RobustModel.fast_path`), the input gradient as a
forward convolution (models/folded.py, from INPUT_GRAD_MIN_BATCH), the CUDA graph (graphs.py),
bf16 (forced on and off, whatever the rule picks), and cuDNN's autotuner (`cudnn.benchmark`, off by
default) on a GPU. Targeted class score, L2 eps 2, step 0.25, as bench/speed.py.
"""
from contextlib import contextmanager

import torch

from bench.common import bench_parser, environ, load, synced, test_images, timed_alternating
from server.synthesis import Ball, class_score, optimize
from server.synthesis.models import folded
from server.synthesis.models.robust_model import RobustModel


@contextmanager
def setting(fast_path=True, input_grad=True, graphs=None, amp=None, cudnn_benchmark=False):
    saved = (RobustModel.fast_path, folded.INPUT_GRAD_MIN_BATCH, torch.backends.cudnn.benchmark)
    RobustModel.fast_path = fast_path
    folded.INPUT_GRAD_MIN_BATCH = saved[1] if input_grad else 1 << 30
    torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        with environ(ROBUST_CANVAS_CUDA_GRAPHS=graphs):
            yield amp
    finally:
        RobustModel.fast_path, folded.INPUT_GRAD_MIN_BATCH, torch.backends.cudnn.benchmark = saved


VARIANTS = {
    "as shipped": {},
    "no folded copy": {"fast_path": False},
    "no input-grad conv": {"input_grad": False},
    "no CUDA graph": {"graphs": "off"},
    "bf16 forced": {"amp": True},
    "fp32 forced": {"amp": False},
    "cudnn.benchmark on": {"cudnn_benchmark": True},
}


def main(argv=None):
    ap = bench_parser(__doc__, device="cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    model = load(args.model, threads=args.threads, device=args.device)
    gpu = model.device.type == "cuda"
    variants = {k: v for k, v in VARIANTS.items() if gpu or not ({"graphs", "cudnn_benchmark"} & v.keys())}
    x_all, y_all = (t.to(model.device) for t in test_images(max(args.batches), model=model))
    print(f"model {model.meta.id} on {torch.cuda.get_device_name(model.device) if gpu else 'cpu'}, "
          f"{args.steps} steps; img*step/s (ratio to as shipped)")
    print(f"| batch | {' | '.join(variants)} |\n|---{'|---' * len(variants)}|")
    for n in args.batches:
        x, y = x_all[:n], y_all[:n]

        def run(options):
            with setting(**options) as amp:
                return optimize(model, x, class_score(y), steps=args.steps, step_size=0.25,
                                constraint=Ball("l2", 2.0), amp=amp).images

        t = timed_alternating({name: synced(lambda o=o: run(o), model.device) for name, o in variants.items()},
                              args.rounds)
        shipped = t["as shipped"]
        cells = [f"{n * args.steps / t[k]:.0f} ({shipped / t[k]:.2f}x)" for k in variants]
        print(f"| {n} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
