"""Load test of the REST API: jobs/s and latency at 1, 4, 16 concurrent clients, batching on vs off.

    python -m bench.bench_load [--model ID_OR_PATH | --tiny] [--task sketch] [--steps 10]
                               [--clients 1 4 16] [--jobs 8] [--device cuda]

Serves the app with uvicorn in a thread (real HTTP on 127.0.0.1), loads the model once, and
for each setting runs `clients` client processes (bench/load_client.py: separate processes, as
real clients are, so that they never hold the server's interpreter lock) that each post `--jobs`
jobs with ?wait=true one after another. Latency is from the request to the finished job; "batch" is the mean number of jobs
per optimizer call, "solving" the share of the wall time the worker spent in the optimizer (the
rest it spent idle or finishing jobs). Batching off is the same server with max_batch=1.

`--ray` compares the embedded server with Ray model workers instead (batching on): one worker
and two workers of one core each, on a local Ray (docs/DEPLOY.md). The
three servers run side by side and the settings take turns for each client count, so that load
from elsewhere on the machine falls on all of them alike.
`--before` also measures each server without the optimizer's fast path, in float32 and without CUDA
graphs (the server before issue 10), alternating with the shipped path.
`--store` compares the server with its result store (every result's PNG written and indexed in
SQLite, every job recorded before its 202: issue 21) and the same server with `--no-store`, side by
side and taking turns; `--rounds N` repeats the whole comparison N times. Every server's data dir
is a temporary one.
"""
import argparse
import base64
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager

import numpy as np
import torch
import uvicorn
from PIL import Image

from bench.common import before_issue_10
from bench.load_client import client_loop
from server.api.app import create_app
from server.settings import Settings
from server.synthesis.models.loading import load_model
from server.synthesis.models.meta import CIFAR10_CLASSES, CIFAR_MEAN, CIFAR_STD, ModelMeta
from server.synthesis.models.robust_model import RobustModel
from server.synthesis.tasks import solve_batch


def tiny_model() -> RobustModel:
    """Random weights, 1/8 width: checks that the bench runs, measures mostly overhead."""
    torch.manual_seed(0)
    meta = ModelMeta(id="tiny", arch="cifar_resnet", depth=18, width=0.125, classes=CIFAR10_CLASSES,
                     mean=list(CIFAR_MEAN), std=list(CIFAR_STD), input_size=32, dataset="cifar10")
    return RobustModel.from_meta(meta).eval()


def random_png(size: int, seed: int) -> str:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@contextmanager
def serve(app):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def batch_counter(settings: Settings):
    """(solver for create_app, counter): the counter returns (optimizer runs, jobs in them, seconds the
    worker spent solving) so far; seconds are NaN for Ray, whose workers run elsewhere (its job store
    counts the batches they report)."""
    if settings.ray:
        import ray
        from server.jobs.ray.store import STORE_NAME
        store = lambda: ray.get_actor(STORE_NAME, namespace=settings.ray_namespace)  # noqa: E731
        return None, lambda: (*ray.get(store().stats.remote()).values(), float("nan"))
    sizes, busy = [], []

    def timed_solver(m, problems, callbacks):
        started = time.perf_counter()
        try:
            return solve_batch(m, problems, callbacks)
        finally:
            sizes.append(len(problems))
            busy.append(time.perf_counter() - started)

    return timed_solver, lambda: (len(sizes), sum(sizes), sum(busy))


def measure(url: str, counter, body: dict, args, clients: int) -> dict:
    runs_before, jobs_before, busy_before = counter()
    with client_processes(url, body, args.task, args.jobs, clients) as (go, results):
        started = time.perf_counter()
        go()
        runs = results()
        wall = time.perf_counter() - started
    runs_after, jobs_after, busy_after = counter()
    latencies = sorted(x for run in runs for x in run)
    return {"clients": clients, "jobs": len(latencies), "jobs_s": len(latencies) / wall,
            "p50": 1000 * statistics.median(latencies),
            "p95": 1000 * latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
            "batch": (jobs_after - jobs_before) / max(1, runs_after - runs_before),
            "busy": (busy_after - busy_before) / wall}


@contextmanager
def client_processes(url: str, body: dict, task: str, jobs: int, clients: int, token: str | None = None):
    """`clients` client processes (bench/load_client.py) posting `jobs` jobs each (with `token`, a
    person's), connected and waiting: `go()` starts them all at once, `results()` waits for their latencies."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as body_file:
        json.dump(body, body_file)
        body_file.flush()
        command = [sys.executable, "-m", "bench.load_client", url, task, str(jobs), body_file.name]
        env = {**os.environ, "ROBUST_CANVAS_TOKEN": token} if token else None
        procs = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
                 for _ in range(clients)]
        try:
            for proc in procs:
                if proc.stdout.readline().strip() != "ready":
                    raise RuntimeError("a client process did not start")

            def go():
                for proc in procs:
                    proc.stdin.write("go\n")
                    proc.stdin.flush()

            def results():
                runs = [json.loads(proc.stdout.readline() or "null") for proc in procs]
                if any(run is None for run in runs):
                    raise RuntimeError("a client process failed (see its error above)")
                return runs

            yield go, results
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()


def time_store() -> dict[str, list[float]]:
    """Seconds of each call of the store's per-job writes (accept: before the 202, on the request's
    thread; save_result: in a finisher thread, off the device's worker), recorded from now on."""
    from server.store.sqlite import ResultStore
    spent = {"accept": [], "save_result": []}
    for name, calls in spent.items():
        method = getattr(ResultStore, name)

        def timed(self, *a, _method=method, _calls=calls, **kw):
            started = time.perf_counter()
            try:
                return _method(self, *a, **kw)
            finally:
                _calls.append(time.perf_counter() - started)

        setattr(ResultStore, name, timed)
    return spent


def store_cpu(model, body: dict, jobs: int = 50) -> tuple[float, float]:
    """(CPU seconds per job of the store's writes, of the solve in a batch of 8), one thread at a time:
    what the store costs, free of the load test's noise."""
    from server.api.images import decode_image
    from server.jobs.record import Job
    from server.jobs.views import result_view
    from server.store.sqlite import ResultStore
    from server.synthesis import tasks
    from server.synthesis.recipes import pack_inputs
    image = decode_image(body["image"], "image", 10**8)
    problem = tasks.build(model, "sketch", image=image, class_=body["class"], steps=body["steps"])
    started = time.process_time()
    results = solve_batch(model, [problem] * 8)
    solve = (time.process_time() - started) / 8
    view = result_view(model, problem, results[0])
    with tempfile.TemporaryDirectory(prefix="bench-store-") as data_dir:
        store = ResultStore(data_dir)
        started = time.process_time()
        for _ in range(jobs):
            job = Job.of("sketch", model.meta.id, problem)
            store.accept(job, pack_inputs(problem.recipe), None)
            store.save_result(job, view, body["steps"])
        store.close()
        return (time.process_time() - started) / jobs, solve


def server_settings(args, data_dir: str) -> dict[str, Settings]:
    """The servers to compare, by name."""
    common = {"max_queue": 4 * max(args.clients), "max_steps": max(args.steps, 1), "warm_palettes": False,
              "data_dir": data_dir}
    if args.store:
        return {"store on": Settings(max_batch=16, store=True, **common),
                "store off": Settings(max_batch=16, store=False, **common)}
    if not args.ray:
        return {"on": Settings(max_batch=16, **common), "off": Settings(max_batch=1, **common)}
    # One core per worker: a worker with two torch threads ran erratically here (docs/BENCHMARKS.md).
    ray = {"ray": "auto", "max_batch": 16, "ray_cpus_per_worker": 1, **common}
    return {"embedded": Settings(max_batch=16, **common),
            "ray, 1 worker": Settings(ray_workers=1, ray_namespace="bench-1", **ray),
            "ray, 2 workers": Settings(ray_workers=2, ray_namespace="bench-2", **ray)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a model id or weights file (default: the shipped default model)")
    p.add_argument("--tiny", action="store_true", help="a random tiny model instead (checks the bench runs)")
    p.add_argument("--device", help="default: cuda when available")
    p.add_argument("--task", default="sketch", choices=["sketch", "translate"])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--jobs", type=int, default=8, help="jobs per client")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--ray", action="store_true", help="embedded vs Ray with 1 and 2 model workers (CPU)")
    p.add_argument("--before", action="store_true", help="also without the fast path, in float32 (before issue 10)")
    p.add_argument("--store", action="store_true", help="the result store on against --no-store (batching on)")
    p.add_argument("--rounds", type=int, default=1, help="repeat the comparison this many times")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = tiny_model().to(args.device or "cpu") if args.tiny else load_model(args.model, device=args.device)
    model_id = model.meta.id
    cpus = torch.get_num_threads()
    if args.ray:
        import ray
        # Logical CPUs for both Ray servers at once (each is idle while the other is measured).
        # Workers at niceness 0 like the embedded server's thread (a local Ray's default is 15).
        ray.init(address="local", num_cpus=3 * cpus, include_dashboard=False, log_to_driver=False,
                 _system_config={"worker_niceness": 0})
    print(f"model {model_id} on {model.device}, task {args.task}, {args.steps} steps, {args.jobs} jobs per client, "
          f"{cpus} threads")
    body = {"class": 0, "steps": args.steps, "image": random_png(model.meta.input_size, 0)}
    store_times = time_store() if args.store else None
    with ExitStack() as stack:
        servers = {}
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-data-"))
        for name, settings in server_settings(args, data_dir).items():
            solver, counter = batch_counter(settings)
            app = create_app(settings, models={model_id: model}, solver=solver)
            url = stack.enter_context(serve(app))
            client_loop(url, body, 1, args.task)  # warm-up (and Ray's workers are up)
            servers[name] = (url, counter)
        print(f"{'server':>14} {'path':>8} {'clients':>7} {'jobs':>5} {'jobs/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
              f"{'batch':>6} {'solving':>7}")
        for n, clients in enumerate(c for _ in range(args.rounds) for c in args.clients):
            order = list(servers.items())
            for name, (url, counter) in order[::-1] if args.rounds > 1 and n % 2 else order:  # neither always first
                for path in ("shipped", "before") if args.before else ("shipped",):  # alternating: contention cancels
                    with before_issue_10(path == "before"):
                        r = measure(url, counter, body, args, clients)
                    print(f"{name:>14} {path:>8} {r['clients']:>7} {r['jobs']:>5} {r['jobs_s']:>8.2f} "
                          f"{r['p50']:>8.0f} {r['p95']:>8.0f} {r['batch']:>6.2f} {r['busy']:>7.0%}", flush=True)
    if store_times:
        if args.task == "sketch":
            cost, solve = store_cpu(model, body)
            print(f"store CPU per job: {1000 * cost:.1f} ms; solve CPU per job (batch of 8): {1000 * solve:.0f} ms "
                  f"({cost / solve:.1%})")
        for name, calls in store_times.items():
            ms = sorted(1000 * c for c in calls)
            print(f"store {name}: {len(ms)} calls, mean {statistics.mean(ms):.2f} ms, median "
                  f"{statistics.median(ms):.2f} ms, p95 {ms[int(0.95 * (len(ms) - 1))]:.2f} ms")


if __name__ == "__main__":
    main()
