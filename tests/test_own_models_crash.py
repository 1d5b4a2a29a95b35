"""A real server killed (SIGKILL) mid-training and started again on its data dir (issue 25): no half
model is ever listed, and the training goes on from its last epoch's checkpoint to a whole model."""
import json
import re
import signal
import time

import httpx

from tests.own_support import photos, save_base
from tests.test_store_crash import free_port, start_server

EPOCHS = 20   # the kill lands mid-training on a busy machine and an idle one alike


def training(api: str, training_id: str) -> dict:
    return httpx.get(f"{api}/trainings/{training_id}", timeout=10).json()


def logged_epochs(log: str) -> list[int]:
    return [int(n) for n in re.findall(r'\{"epoch": (\d+), "train_loss"', log)]


def model_ids(api: str) -> set[str]:
    return {m["id"] for m in httpx.get(f"{api}/models", timeout=10).json()}


def test_a_training_cut_by_sigkill_lists_no_half_model_and_goes_on_from_its_last_epoch(tmp_path):
    data_dir, log_path, port = tmp_path / "data", tmp_path / "server.log", free_port()
    base = save_base(tmp_path / "base")
    api = f"http://127.0.0.1:{port}/api"
    server = start_server(data_dir, log_path, port, model=str(base))
    try:
        upload_id = httpx.post(f"{api}/uploads", timeout=10).json()["id"]
        for colour in ("reds", "blues"):
            r = httpx.post(f"{api}/uploads/{upload_id}/photos", json={"class": colour, "photos": photos(colour)},
                           timeout=30)
            assert r.status_code == 200, r.text
        r = httpx.post(f"{api}/trainings", json={"upload": upload_id, "name": "colours", "epochs": EPOCHS}, timeout=30)
        assert r.status_code == 202, r.text
        training_id = r.json()["id"]
        deadline = time.monotonic() + 120
        while training(api, training_id)["epoch"] < 3 and time.monotonic() < deadline:   # 2 epochs checkpointed
            time.sleep(0.02)
        cut = training(api, training_id)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    finally:
        if server.poll() is None:
            server.kill()
    assert cut["status"] == "running" and 3 <= cut["epoch"] < EPOCHS, cut
    assert not (data_dir / "models" / "colours").exists()
    assert (data_dir / "models" / ".training" / "colours" / "checkpoint.pt").exists()
    first_run_log = log_path.read_text()

    server = start_server(data_dir, log_path, port, model=str(base))
    try:
        assert "colours" not in model_ids(api)
        resumed = training(api, training_id)
        assert resumed["attempts"] == 2 and resumed["status"] in ("queued", "running"), resumed
        deadline = time.monotonic() + 300
        while (t := training(api, training_id))["status"] not in ("done", "failed", "cancelled"):
            assert time.monotonic() < deadline, t
            time.sleep(0.1)
        assert t["status"] == "done", t
        # The second run went on from the last checkpoint, not from the start: it repeats at most the
        # one epoch whose log line was written when the kill landed before its checkpoint was.
        first = logged_epochs(first_run_log)
        second = logged_epochs(log_path.read_text()[len(first_run_log):])
        assert first == list(range(1, first[-1] + 1)), first
        assert second[0] in (first[-1], first[-1] + 1) and second == list(range(second[0], EPOCHS + 1)), second
        assert "colours" in model_ids(api)
        card = json.loads((data_dir / "models" / "colours" / "colours.json").read_text())
        assert [e["epoch"] for e in card["training"]["log"]] == list(range(1, EPOCHS + 1))
        assert not (data_dir / "models" / ".training" / "colours").exists()
    finally:
        server.kill()
        server.wait(10)
