"""Fuzz the REST API with Schemathesis: no request may get a 5xx.

    pip install schemathesis            # anywhere, e.g. its own venv; not a project dependency
    python -m bench.fuzz_api [--st PATH_TO_st] [--max-time 120] [--model ID_OR_PATH]

Serves the app on 127.0.0.1 (a random tiny model with a seed distribution unless --model is
given, and small step limits so generated jobs finish quickly), then runs
`st run <url>/openapi.json --checks not_a_server_error` against it and passes on its exit code.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile

import torch

from bench.bench_load import serve, tiny_model
from server.api.app import create_app
from server.api.settings import Settings
from server.synthesis.models.loading import load_model
from server.synthesis.seeds import SeedDistribution


def fuzz_model():
    model = tiny_model()
    d = 3 * 8 * 8
    model.seeds = SeedDistribution(torch.rand(10, d), 0.1 * torch.eye(d).expand(10, d, d).half(), resolution=8)
    return model


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--st", default=shutil.which("st"), help="the schemathesis `st` executable")
    p.add_argument("--max-time", dest="max_time", type=int, default=120, help="seconds of fuzzing")
    p.add_argument("--model", help="a model id or weights file (default: a random tiny model)")
    args, extra = p.parse_known_args(argv)
    if not args.st:
        p.error("schemathesis not found: `pip install schemathesis` and pass --st PATH")
    torch.set_num_threads(1)
    model = load_model(args.model) if args.model else fuzz_model()
    settings = Settings(max_steps=5, max_n=4, max_queue=256, job_timeout_s=20)
    with serve(create_app(settings, models={model.meta.id: model})) as url:
        command = [args.st, "run", f"{url}/openapi.json", "--checks", "not_a_server_error", "--workers", "2",
                   "--max-time", str(args.max_time), "--request-timeout", "60", *extra]
        print(" ".join(command), flush=True)
        with tempfile.TemporaryDirectory() as scratch:  # st keeps a .schemathesis/ cache in its working directory
            return run_and_check(command, scratch)


def run_and_check(command: list[str], cwd: str) -> int:
    """st's exit code, but 1 when it ran no test case at all (a budget spent before fuzzing began)."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    for line in process.stdout:
        print(line, end="", flush=True)
        output.append(line)
    code = process.wait()
    if code == 0 and any("No test cases were generated" in line for line in output):
        print("fuzz_api: no test case ran: give it a larger --max-time", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
