"""Chaos under load (issue 27): the Ray deployment's processes SIGKILLed in turn while clients submit jobs.

    python -m bench.bench_chaos [--model cifar10-rn18h-l2] [--seconds 60] [--every 5] [--clients 3]
    python -m bench.bench_chaos --each [--jobs 12] [--steps 100]

A local Ray started here (this process is a driver of it, in the deployment's namespace), with
`--cpus` cores and one model worker per core, and two front ends, `robust-canvas serve --ray ADDRESS`
in subprocesses on ports `--port` and the next, that join it as front ends join a cluster (the job
store is detached). Data dir, cache and namespace are temporary.

Chaos (the default): `--clients` client threads each submit a translate job to the front ends in
turn, follow it to its end through whichever front end answers, and submit the next, for
`--seconds`; meanwhile, every `--every` seconds one process is SIGKILLed, each kind in turn: a model
worker, the job store, a front end (started again at once). Then every accepted job is followed to
its end. Counted: accepted, done, failed (with each reason), never ended, and done jobs whose result
is in the history other than once.

`--each`: for each kind of process, `--jobs` jobs are submitted at once, one process of that kind is
SIGKILLed once they run, and the jobs are followed to their ends; then `robust-canvas generate
--server` must work through a front end.
"""
import argparse
import base64
import io
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

import httpx
import numpy as np
import ray
from PIL import Image

KINDS = ("worker", "store", "front end")
NAMESPACE = "robust-canvas-chaos"


def random_png(size: int, seed: int) -> str:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class Deployment:
    """A local Ray, its job store and workers, and two front ends in subprocesses."""

    def __init__(self, args, scratch: str):
        self.args, self.env = args, {**os.environ, "RAY_AUTH_MODE": "disabled",
                                     "ROBUST_CANVAS_DATA_DIR": f"{scratch}/data", "ROBUST_CANVAS_CACHE": f"{scratch}/cache",
                                     "ROBUST_CANVAS_RAY_NAMESPACE": NAMESPACE, "ROBUST_CANVAS_WARM_PALETTES": "false",
                                     "ROBUST_CANVAS_RAY_WORKERS": str(args.cpus),
                                     "ROBUST_CANVAS_JOB_TIMEOUT_S": str(args.timeout), "ROBUST_CANVAS_RAY_STALL_S": "20"}
        os.environ["RAY_AUTH_MODE"] = "disabled"   # a private local Ray: no token to share with the subprocesses
        ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, namespace=NAMESPACE)
        self.address = ray.get_runtime_context().gcs_address
        self.ports = [args.port, args.port + 1]
        self.front_ends = {port: self._serve(port) for port in self.ports}
        for port in self.ports:   # the first creates the store, the second joins it
            self.wait_up(port)

    def _serve(self, port: int) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--ray", self.address, "--port", str(port),
                                 "--model", self.args.model, "--log-level", "warning"], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_up(self, port: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the front end on port {port} did not become healthy")

    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def health(self) -> dict:
        """The job store's account of its processes, once it answers with a worker up."""
        while True:
            try:
                health = ray.get(ray.get_actor("job-store", namespace=NAMESPACE).health.remote(), timeout=5)
                if health["workers"]["up"]:
                    return health
            except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError, ValueError):
                pass
            time.sleep(0.2)

    def kill(self, kind: str, turn: int) -> None:
        if kind == "front end":
            port = self.ports[turn % 2]
            self.front_ends[port].kill()
            self.front_ends[port].wait()
            self.front_ends[port] = self._serve(port)   # comes back in seconds; clients use the other meanwhile
            return
        health = self.health()
        pid = health["pid"] if kind == "store" else sorted(health["workers"]["up"].values())[turn % 2 - 1]
        os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        for process in self.front_ends.values():
            process.terminate()
            process.wait()
        ray.kill(ray.get_actor("job-store", namespace=NAMESPACE))
        ray.shutdown()


class Clients:
    """Jobs submitted and followed through whichever front end answers."""

    def __init__(self, urls: list[str], args):
        self.urls, self.args = itertools.cycle(urls), args
        self.http = httpx.Client(timeout=30)
        self.lock = threading.Lock()
        self.accepted: list[str] = []

    def call(self, method: str, path: str, **kwargs) -> httpx.Response:
        """The request through the next front end that answers (one may be down)."""
        while True:
            with self.lock:
                url = next(self.urls)
            try:
                response = self.http.request(method, url + path, **kwargs)
                if response.status_code < 500:
                    return response
            except httpx.HTTPError:
                pass
            time.sleep(0.2)

    def submit(self, seed: int) -> str | None:
        body = {"class": "cat", "steps": self.args.steps, "patience": 0, "image": random_png(32, seed), "seed": seed}
        response = self.call("POST", "/api/tasks/translate", json=body)
        if response.status_code == 429:
            time.sleep(float(response.headers.get("Retry-After", 1)))
            return None
        response.raise_for_status()
        job_id = response.json()["id"]
        with self.lock:
            self.accepted.append(job_id)
        return job_id

    def follow(self, job_id: str, timeout: float) -> dict:
        """The job once ended, or as it is after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.call("GET", f"/api/jobs/{job_id}").json()
            if job["status"] in ("done", "failed", "cancelled") or time.monotonic() > deadline:
                return job
            time.sleep(0.2)

    def saved_once(self, done: list[str]) -> tuple[int, int]:
        """(done jobs whose result is in the history once, those in it more than once)."""
        counts, cursor = Counter(), None
        while True:
            page = self.call("GET", "/api/results", params={"limit": 100, **({"cursor": cursor} if cursor else {})}).json()
            counts.update(item["job_id"] for item in page["items"])
            if not (cursor := page["next"]):
                break
        return sum(counts[j] == 1 for j in done), sum(counts[j] > 1 for j in done)


def report(clients: Clients, jobs: list[dict], kills: Counter, seconds: float) -> None:
    status = Counter(job["status"] for job in jobs)
    done = [job["id"] for job in jobs if job["status"] == "done"]
    once, twice = clients.saved_once(done)
    never = len(jobs) - sum(status[s] for s in ("done", "failed", "cancelled"))
    print(f"| {seconds:.0f} s | {', '.join(f'{kills[k]} {k}' for k in KINDS if kills[k])} | {len(jobs)} | "
          f"{status['done']} | {status['failed']} | {never} | {once} | {twice} |")
    for reason, n in Counter(job["error"] for job in jobs if job["status"] == "failed").most_common():
        print(f"    failed x{n}: {reason}")


def chaos(deployment: Deployment, args) -> None:
    clients, stop, kills = Clients(deployment.urls(), args), threading.Event(), Counter()
    seeds = itertools.count()

    def client() -> None:
        while not stop.is_set():
            job_id = clients.submit(next(seeds))
            if job_id:
                clients.follow(job_id, args.timeout * 3)

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for turn in range(int(args.seconds // args.every)):
        time.sleep(args.every)
        kind = KINDS[turn % len(KINDS)]
        deployment.kill(kind, turn // len(KINDS))
        kills[kind] += 1
        print(f"{time.monotonic() - started:5.1f} s: killed a {kind}", flush=True)
    stop.set()
    for thread in threads:
        thread.join()
    jobs = [clients.follow(job_id, args.timeout * 3) for job_id in clients.accepted]
    print("| load | killed | accepted | done | failed | never ended | saved once | saved twice |\n|---|---|---|---|---|---|---|---|")
    report(clients, jobs, kills, time.monotonic() - started)


def each(deployment: Deployment, args) -> None:
    print("| killed | jobs | done | failed | never ended | saved once | saved twice | --server client |\n"
          "|---|---|---|---|---|---|---|---|")
    for turn, kind in enumerate(KINDS):
        clients = Clients(deployment.urls(), args)
        ids = [job_id for seed in range(args.jobs) if (job_id := clients.submit(1000 * turn + seed))]
        while clients.follow(ids[0], 0)["status"] == "queued":   # running: kill mid-run
            time.sleep(0.2)
        time.sleep(1.0)
        deployment.kill(kind, turn)
        jobs = [clients.follow(job_id, args.timeout * 3) for job_id in ids]
        status = Counter(job["status"] for job in jobs)
        done = [job["id"] for job in jobs if job["status"] == "done"]
        once, twice = clients.saved_once(done)
        for port in deployment.ports:
            deployment.wait_up(port)
        cli = subprocess.run([sys.executable, "-m", "server.cli", "generate", "cat", "--steps", "5", "--model",
                              args.model, "--out", f"{tempfile.gettempdir()}/chaos-{os.getpid()}.png",
                              "--server", deployment.urls()[turn % 2]], env=deployment.env, capture_output=True, text=True)
        never = len(jobs) - sum(status[s] for s in ("done", "failed", "cancelled"))
        print(f"| {kind} | {len(jobs)} | {status['done']} | {status['failed']} | {never} | {once} | {twice} | "
              f"{'works' if cli.returncode == 0 else 'fails: ' + cli.stderr.strip()[-200:]} |", flush=True)
        for reason, n in Counter(job["error"] for job in jobs if job["status"] == "failed").most_common():
            print(f"    failed x{n}: {reason}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="cifar10-rn18h-l2")
    p.add_argument("--each", action="store_true", help="each kind killed once with --jobs jobs running")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--every", type=float, default=5.0)
    p.add_argument("--clients", type=int, default=3)
    p.add_argument("--jobs", type=int, default=12)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--cpus", type=int, default=2, help="Ray's cores: one model worker each")
    p.add_argument("--timeout", type=float, default=120.0, help="the job time limit, JOB_TIMEOUT_S")
    p.add_argument("--port", type=int, default=8310)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="robust-canvas-chaos-") as scratch:
        deployment = Deployment(args, scratch)
        try:
            (each if args.each else chaos)(deployment, args)
        finally:
            deployment.close()


if __name__ == "__main__":
    main()
