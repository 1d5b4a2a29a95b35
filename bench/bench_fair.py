"""Fair share under load (issue 28): one person floods the server, another posts single images.

    python -m bench.bench_fair [--model ID_OR_PATH | --tiny] [--steps 10] [--jobs 30] [--heavy 8]
                               [--images 16] [--rounds 1] [--threads N]

Two servers side by side on the same model, each with two people (ana and bo, `users add`): one
with fair share (the default: people take turns leading batches, a batch holds at most
`max_batch` images) and one first come, first served (`fair_share=False`: the baseline). On each,
bo's one client (bench/load_client.py, its own process) posts `--jobs` single-image generate jobs
with ?wait=true one after another, first alone, then while ana's `--heavy` clients post
`--images`-image generate jobs back to back. Printed for each run: bo's p50 and p95 latency alone
and beside ana (and the p95 of the later half of bo's jobs beside ana: fair share's steady state once
his run outlasts its memory), the mean images per batch beside ana, and one of ana's jobs alone (p50 of 3); then
every round pooled: bo's p95 beside ana on each server against bo's p95 alone (both servers: with
one person they serve alike), and bo's floor: no scheduler that lets a started batch finish keeps
bo below (ana's job + bo's p95 alone) / bo's p95 alone, since bo's job may come just after one of
ana's started; fair share pauses ana's batch for bo's turn (rules.JobTable.take_turn). Also printed:
ana's images a second while bo's client runs beside hers, what bo's turns cost her. Between runs
the server's queue drains. `--rounds N` repeats the comparison, the
servers taking turns going first.
"""
import argparse
import statistics
import tempfile
import time
from contextlib import ExitStack

import httpx
import torch

from bench.bench_load import client_processes, serve, tiny_model
from server.api.app import create_app
from server.settings import Settings
from server.store.sqlite import ResultStore
from server.synthesis.models.loading import load_model
from server.synthesis.seeds import SeedDistribution
from server.synthesis.tasks import solve_batch

MODES = {"fair share": True, "first come": False}


def with_seeds(model):
    """A tiny random model can generate: seeds around a grey mean (what the bench times is the solve)."""
    d = 3 * 8 * 8
    model.seeds = SeedDistribution(torch.full((len(model.meta.classes), d), 0.5), 0.15 * torch.eye(d).expand(
        len(model.meta.classes), d, d).clone(), resolution=8)
    return model


def people(data_dir: str) -> dict[str, str]:
    store = ResultStore(data_dir)
    try:
        return {name: store.add_person(name) for name in ("ana", "bo")}
    finally:
        store.close()


def counting_solver():
    """(solver, sizes): (when it ended, images) of every batch solved (a turn's inside another's, too)."""
    sizes = []

    def solver(model, problems, callbacks):
        results = solve_batch(model, problems, callbacks)
        sizes.append((time.monotonic(), sum(len(p) for p in problems)))
        return results

    return solver, sizes


def drained(url: str) -> None:
    """Until the server has no job queued or running (a killed client's jobs still run)."""
    while (health := httpx.get(f"{url}/api/health").json())["queue"] or health["running"]:
        time.sleep(0.2)


def ana_alone(url: str, tokens: dict, args) -> float:
    """The p50 latency (s) of one of ana's jobs with nothing else queued."""
    heavy = {"class": 2, "n": args.images, "steps": args.steps}
    with client_processes(url, heavy, "generate", 3, 1, tokens["ana"]) as (go, results):
        go()
        (latencies,) = results()
    return statistics.median(latencies)


def bo_latencies(url: str, tokens: dict, args, loaded: bool, window: list | None = None) -> list[float]:
    """bo's latencies (s), alone or while ana's heavy clients post back to back; `window` gets the
    start and end of bo's run."""
    window = [] if window is None else window
    light, heavy = {"class": 1, "n": 1, "steps": args.steps}, {"class": 2, "n": args.images, "steps": args.steps}
    with ExitStack() as stack:
        if loaded:   # ana's clients never finish on their own: killed when bo is done
            flood = client_processes(url, heavy, "generate", 10**6, args.heavy, tokens["ana"])
            go_heavy, _ = stack.enter_context(flood)
            go_heavy()
            time.sleep(2.0)   # ana's queue fills up
        go, results = stack.enter_context(client_processes(url, light, "generate", args.jobs, 1, tokens["bo"]))
        go()
        window[:] = [time.monotonic()]
        (latencies,) = results()
        window.append(time.monotonic())
    drained(url)
    return latencies


def ana_rate(sizes: list[tuple], window: list[float]) -> float:
    """ana's images a second while bo's client ran beside hers (her jobs are the batches of more than
    one image: bo's single image never fits beside one of her 16)."""
    start, end = window
    return sum(n for t, n in sizes if start <= t <= end and n > 1) / (end - start)


def p(latencies: list[float], q: float) -> float:
    """The q-quantile in ms."""
    ordered = sorted(latencies)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a model id or weights file with seeds (default: the shipped CIFAR-10 model)")
    parser.add_argument("--tiny", action="store_true", help="a random tiny model instead")
    parser.add_argument("--device", help="default: cuda when available")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=30, help="bo's jobs per run")
    parser.add_argument("--baseline-jobs", dest="baseline_jobs", type=int,
                        help="bo's jobs per run on the first-come server (default --jobs): it keeps no memory of "
                             "who used the device, so a shorter run measures it alike, where fair share needs "
                             "a run longer than its memory (rules.USAGE_HALF_LIFE_S) to reach its steady state")
    parser.add_argument("--heavy", type=int, default=8, help="ana's clients")
    parser.add_argument("--images", type=int, default=16, help="images in each of ana's jobs")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = (with_seeds(tiny_model()).to(args.device or "cpu") if args.tiny
             else load_model(args.model or "cifar10-rn18h-l2", device=args.device))
    print(f"model {model.meta.id} on {model.device}, {args.steps} steps; bo: 1 client, 1 image a job; "
          f"ana: {args.heavy} clients, {args.images} images a job; {torch.get_num_threads()} threads")
    with ExitStack() as stack:
        servers = {}
        for mode, fair in MODES.items():
            data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-fair-"))
            tokens = people(data_dir)
            solver, sizes = counting_solver()
            # retain_count: ana's flood would leave tens of thousands of PNGs to write and remove
            settings = Settings(fair_share=fair, max_batch=16, max_queue=64, warm_palettes=False, data_dir=data_dir,
                                max_steps=max(args.steps, 1), retain_count=1000)
            url = stack.enter_context(serve(create_app(settings, models={model.meta.id: model}, solver=solver)))
            bo_latencies(url, tokens, argparse.Namespace(**{**vars(args), "jobs": 2}), loaded=False)   # warm-up
            servers[mode] = (url, tokens, sizes)
        print(f"{'server':>11} {'bo alone p50':>12} {'p95':>6} {'beside ana p50':>14} {'p95':>6} {'later half p95':>14} "
              f"{'batch images':>12} {'ana images/s':>12} {'ana alone':>9}")
        alone, loaded, heavy, rates = [], {mode: [] for mode in servers}, [], {mode: [] for mode in servers}
        for round_ in range(args.rounds):
            order = list(servers.items())
            for mode, (url, tokens, sizes) in order[::-1] if round_ % 2 else order:
                run = args if MODES[mode] or not args.baseline_jobs else argparse.Namespace(
                    **{**vars(args), "jobs": args.baseline_jobs})
                bo_alone = bo_latencies(url, tokens, run, loaded=False)
                before, window = len(sizes), []
                bo_loaded = bo_latencies(url, tokens, run, loaded=True, window=window)
                batch = statistics.mean(n for _, n in sizes[before:]) if sizes[before:] else float("nan")
                rates[mode].append(ana_rate(sizes[before:], window))
                heavy.append(1000 * ana_alone(url, tokens, args))
                print(f"{mode:>11} {p(bo_alone, 0.5):>10.0f}ms {p(bo_alone, 0.95):>6.0f} {p(bo_loaded, 0.5):>12.0f}ms "
                      f"{p(bo_loaded, 0.95):>6.0f} {p(bo_loaded[len(bo_loaded) // 2:], 0.95):>14.0f} {batch:>12.1f} "
                      f"{rates[mode][-1]:>12.1f} {heavy[-1]:>7.0f}ms", flush=True)
                alone += bo_alone
                loaded[mode] += bo_loaded
        summary(alone, loaded, statistics.median(heavy), rates)


def summary(alone: list[float], loaded: dict[str, list[float]], heavy_ms: float, rates: dict) -> None:
    """Every round's latencies pooled: bo alone on both servers (with one person they serve alike)."""
    base = p(alone, 0.95)
    print(f"\nall rounds: bo alone p95 {base:.0f} ms ({len(alone)} jobs, both servers)")
    for mode, latencies in loaded.items():
        print(f"{mode:>11}: bo beside ana p95 {p(latencies, 0.95):.0f} ms = {p(latencies, 0.95) / base:.1f}x alone; "
              f"ana's images/s beside bo, median of rounds {statistics.median(rates[mode]):.1f}")
    print(f"ana's job alone {heavy_ms:.0f} ms: where a started batch runs to its end (first come), bo's floor is "
          f"about {(heavy_ms + base) / base:.1f}x alone")


if __name__ == "__main__":
    main()
