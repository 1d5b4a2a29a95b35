"""One load-test client, as its own process (bench/bench_load.py starts one per client, so that
clients never share the server's interpreter lock, as real clients would not):

    python -m bench.load_client URL TASK JOBS BODY.json

It connects, prints `ready`, waits for a line on stdin, posts JOBS jobs back to back with
?wait=true, and prints their latencies in seconds as one JSON list. With ROBUST_CANVAS_TOKEN set,
it is that person. Imports httpx only.
"""
import json
import os
import sys
import time

import httpx


def client_loop(url: str, body: dict, jobs: int, task: str) -> list[float]:
    """Latencies (s) of `jobs` jobs posted one after another; a failed job raises."""
    with httpx.Client(base_url=url, timeout=600) as http:
        return posted(http, body, jobs, task)


def posted(http: httpx.Client, body: dict, jobs: int, task: str) -> list[float]:
    latencies = []
    for _ in range(jobs):
        started = time.perf_counter()
        response = http.post(f"/api/tasks/{task}", params={"wait": "true"}, json=body)
        if response.status_code != 200 or response.json()["status"] != "done":
            raise RuntimeError(f"job failed: {response.status_code} {response.text[:300]}")
        latencies.append(time.perf_counter() - started)
    return latencies


def main() -> None:
    url, task, jobs, body_file = sys.argv[1:5]
    with open(body_file) as f:
        body = json.load(f)
    token = os.environ.get("ROBUST_CANVAS_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, timeout=600, headers=headers) as http:
        http.get("/api/health").raise_for_status()   # connected before the clock starts
        print("ready", flush=True)
        sys.stdin.readline()
        print(json.dumps(posted(http, body, int(jobs), task)), flush=True)


if __name__ == "__main__":
    main()
