"""When bfloat16 pays: one rule for the library, the CLI, the server and training (`amp=None`).

bf16 autocast halves the arithmetic's cost only where the hardware has bf16 units (CUDA; CPUs
with AVX-512 BF16 or AMX), and even there only for batches large enough that the convolutions,
not the casts and the per-step overhead, dominate. A CPU with AVX-512 BF16 but no AMX can be
slower in bf16 than in fp32 (docs/BENCHMARKS.md), so the rule measures: once per process and
device type, a small convolution stack in fp32 and in bf16. ROBUST_CANVAS_AMP=on|off overrides it.
"""
import functools
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

MIN_BATCH = 16        # below this a step is overhead-bound: bf16 never paid at batch 1 (BENCHMARKS.md)
MIN_SPEEDUP = 1.2     # what the micro-benchmark must show, well above its noise


def use_bf16(device: torch.device | str, batch: int) -> bool:
    """bf16 autocast for an optimizer run of `batch` images on `device`?"""
    forced = forced_switch("ROBUST_CANVAS_AMP")
    if forced is not None:
        return forced
    device_type = torch.device(device).type
    if batch < MIN_BATCH or not has_bf16_units(device_type):
        return False
    return decide(batch, supported=True, speedup=measured_speedup(device_type))


def forced_switch(name: str) -> bool | None:
    """An on|off environment override of a measured rule; None for auto (unset or anything else)."""
    value = os.environ.get(name, "auto").lower()
    return value == "on" if value in ("on", "off") else None


def decide(batch: int, *, supported: bool, speedup: float | None) -> bool:
    """The rule itself: bf16 units, a large enough batch, and a measured speed-up of MIN_SPEEDUP."""
    return supported and batch >= MIN_BATCH and speedup is not None and speedup >= MIN_SPEEDUP


def has_bf16_units(device_type: str) -> bool:
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        return torch.backends.mkldnn.is_available() and bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    return False


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux); empty where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    return frozenset(next((line.split(":", 1)[1].split() for line in text.splitlines()
                           if line.startswith("flags")), []))


# The micro-benchmark's activations (batch, channels, side): the smallest batch the rule admits; on a
# GPU, whose eager launches would hide any arithmetic at that size, the size of a batch-16 photo-model stage.
PROBE_SHAPE = {"cpu": (MIN_BATCH, 64, 16), "cuda": (MIN_BATCH, 128, 64)}


@functools.cache
def measured_speedup(device_type: str) -> float:
    """fp32 time / bf16 time of a forward + input-gradient pass through 3 convolutions."""
    batch, channels, side = PROBE_SHAPE.get(device_type, PROBE_SHAPE["cpu"])
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, channels, side, side, generator=gen).to(device_type, memory_format=torch.channels_last)
    weights = [0.05 * torch.randn(channels, channels, 3, 3, generator=gen).to(device_type) for _ in range(3)]

    def step(bf16: bool) -> None:
        inp = x.detach().requires_grad_(True)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            out = inp
            for w in weights:
                out = F.relu(F.conv2d(out, w, padding=1))
        torch.autograd.grad(out.float().sum(), inp)
        if device_type == "cuda":
            torch.cuda.synchronize()

    return best_time(lambda: step(False)) / best_time(lambda: step(True))


def best_time(fn, repeats: int = 2) -> float:
    """Best wall time of `repeats` calls of fn, after one warm-up call (allocations, oneDNN kernel choice)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
