"""A real server killed (SIGKILL) under load and started again on its data dir: no accepted job is
lost, none runs twice to done, and the finished ones answer as before (issue 21).

The server is a subprocess (`robust-canvas serve`) on the shipped CIFAR-10 model, a few steps per
job and batches of two, so that at the kill some jobs are done, some running, some queued.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from server.synthesis.recipes import read_png_recipe

MODEL = "cifar10-rn18h-l2"
JOBS = 12


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, log_path: Path, port: int, model: str = MODEL) -> subprocess.Popen:
    env = {**os.environ, "ROBUST_CANVAS_MAX_BATCH": "2", "ROBUST_CANVAS_WARM_PALETTES": "false",
           "ROBUST_CANVAS_AMP": "off"}
    command = [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--model", model, "--device", "cpu",
               "--data-dir", str(data_dir)]
    process = subprocess.Popen(command, env=env, stdout=log_path.open("a"), stderr=subprocess.STDOUT,
                               cwd=Path(__file__).resolve().parents[1])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError("the server did not start:\n" + log_path.read_text()[-3000:])


def statuses(api: str, ids: list[str]) -> dict[str, str]:
    return {job_id: httpx.get(f"{api}/jobs/{job_id}", timeout=10).json().get("status", "404") for job_id in ids}


def done_events(log_path: Path) -> Counter:
    return Counter(re.findall(r"event=job_done id=(\w+)", log_path.read_text()))


def test_sigkill_under_load_then_restart_loses_no_job_and_runs_none_twice(tmp_path):
    data_dir, log_path, port = tmp_path / "data", tmp_path / "server.log", free_port()
    api = f"http://127.0.0.1:{port}/api"
    server = start_server(data_dir, log_path, port)
    try:
        ids = []
        for seed in range(JOBS):
            r = httpx.post(f"{api}/tasks/generate", json={"class": "cat", "steps": 12, "seed": seed}, timeout=30)
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:   # kill it with some jobs done and others still to do
            before = statuses(api, ids)
            if list(before.values()).count("done") >= 2:
                break
            time.sleep(0.05)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    finally:
        if server.poll() is None:
            server.kill()
    done_before = {job_id for job_id, status in before.items() if status == "done"}
    assert 2 <= len(done_before) < JOBS, before

    server = start_server(data_dir, log_path, port)
    try:
        assert statuses(api, sorted(done_before)) == {job_id: "done" for job_id in sorted(done_before)}
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and set((after := statuses(api, ids)).values()) != {"done"}:
            time.sleep(0.2)
        assert after == {job_id: "done" for job_id in ids}, after
        assert done_events(log_path) == Counter(ids), "each job ran to done exactly once, over both runs"
        job = httpx.get(f"{api}/jobs/{ids[0]}", timeout=10).json()
        assert len(job["result"]["images"]) == 1 and job["recipe"]["seed"] == 0
        page = httpx.get(f"{api}/results", params={"limit": 100}, timeout=10).json()
        assert sorted(item["job_id"] for item in page["items"]) == sorted(ids)
        png = httpx.get(f"http://127.0.0.1:{port}{page['items'][0]['png']}", timeout=10).content
        assert read_png_recipe(png)[0].task == "generate"
        assert "event=job_recovered" in log_path.read_text()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
