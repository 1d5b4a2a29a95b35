"""Fuzz the REST API with Schemathesis: the server must do what its OpenAPI schema says.

    pip install schemathesis            # anywhere, e.g. its own venv; not a project dependency
    python -m bench.fuzz_api [--st PATH_TO_st] [--max-time 120] [--model ID_OR_PATH] [--open]

Serves the app on 127.0.0.1 (a random tiny model with a seed distribution unless --model is
given, and small step limits so generated jobs finish quickly), then runs `st run
<url>/openapi.json` with the conformance checks (CHECKS: no server errors, only documented status
codes, content types and headers, response bodies and events that match their schemas, invalid
data refused, no resource used after it was freed) and passes on its exit code. Not
`positive_data_acceptance`: a schema cannot say "a decodable PNG" or "a class this model has", so
schema-valid strings are rightly refused with a 422 naming the field. The coverage phase is
skipped: in schemathesis 4.32.5 it stops with an internal error of its own ("AST constructor
recursion depth mismatch", inside hypothesis), not a finding about the server.

The server has a person (`users add`) and st sends their token with every request, as a shared
server's clients do; `--open` fuzzes a laptop's server instead, nobody configured and no token.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile

import torch

from bench.bench_load import serve, tiny_model
from server.api.app import create_app
from server.settings import Settings
from server.store.sqlite import ResultStore
from server.synthesis.models.loading import load_model
from server.synthesis.seeds import SeedDistribution


CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
          "use_after_free", "ensure_resource_availability")


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
    p.add_argument("--open", action="store_true", help="nobody configured: no token (a laptop's server)")
    args, extra = p.parse_known_args(argv)
    if not args.st:
        p.error("schemathesis not found: `pip install schemathesis` and pass --st PATH")
    torch.set_num_threads(1)
    model = load_model(args.model) if args.model else fuzz_model()
    with tempfile.TemporaryDirectory() as data_dir:   # a store of its own
        auth = [] if args.open else ["-H", f"Authorization: Bearer {a_person(data_dir)}"]
        with serve(create_app(Settings(max_steps=5, max_n=4, max_queue=256, job_timeout_s=20, data_dir=data_dir),
                              models={model.meta.id: model})) as url:
            command = [args.st, "run", f"{url}/openapi.json", "--checks", ",".join(CHECKS), "--workers", "2",
                       "--phases", "examples,fuzzing,stateful",
                       "--max-time", str(args.max_time), "--request-timeout", "60", *extra]
            print(" ".join(command) + (" (with a person's token)" if auth else ""), flush=True)
            with tempfile.TemporaryDirectory() as scratch:  # st keeps a .schemathesis/ cache in its working directory
                return run_and_check(command + auth, scratch)


def a_person(data_dir: str) -> str:
    """A person on the server of `data_dir`: their token."""
    store = ResultStore(data_dir)
    try:
        return store.add_person("fuzz")
    finally:
        store.close()


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
