"""The embedded server (the default) runs jobs with Ray impossible to import."""
import subprocess
import sys

SCRIPT = """
import sys
sys.modules["ray"] = None   # any `import ray` now raises ImportError
from tests.api_support import api_client
with api_client() as client:
    job = client.post("/api/tasks/generate?wait=true", json={"class": "cat", "steps": 3}).json()
assert job["status"] == "done", job
print("ok")
"""


def test_the_embedded_server_needs_no_ray():
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
