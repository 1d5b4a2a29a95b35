"""The result store (issue 21): history, the PNGs on disk, jobs recorded and recovered, and every
way the store can fail: a corrupt or locked database, a data dir that is not writable, a full disk.
"""
import errno
import sqlite3
import threading
import time

import pytest

from server.settings import Settings
from server.cli.main import main
from server.api.images import decode_image
from server.jobs.record import Job
from server.jobs.views import result_view
from server.store import files
from server.store.sqlite import DB_NAME, ResultStore, StoreError
from server.synthesis import tasks
from server.synthesis.tasks import solve_batch
from server.synthesis.recipes import pack_inputs, read_png_recipe
from tests.api_support import api_client, picture, read_events, tiny_with_seeds, wait_for

GENERATE = {"class": "cat", "steps": 2, "model": "tiny"}


def run_job(client, body=GENERATE, task="generate") -> dict:
    r = client.post(f"/api/tasks/{task}", json=body)
    assert r.status_code == 202, r.text
    return wait_for(client, r.json()["id"])


def test_every_result_is_saved_with_its_recipe_and_listed_newest_first(tmp_path):
    with api_client(data_dir=tmp_path) as client:
        first = run_job(client, {**GENERATE, "n": 2})
        second = run_job(client, {"class": "dog", "steps": 2, "model": "tiny", "seed": 3})
        page = client.get("/api/results").json()
        assert [item["job_id"] for item in page["items"]] == [second["id"], first["id"], first["id"]]
        assert page["next"] is None
        item = page["items"][0]
        assert (item["task"], item["model"], item["seed"], item["width"], item["height"]) == ("generate", "tiny", 3,
                                                                                              32, 32)
        assert item["class"] == second["result"]["class_names"][0] and item["created"].endswith("Z")
        png = client.get(item["png"])
        assert png.headers["content-type"] == "image/png" and len(png.content) == item["bytes"]
        recipe, index = read_png_recipe(png.content)
        assert (recipe.to_json(), index) == (second["recipe"], 0)
        assert client.get(f"/api/results/{item['id']}").json()["recipe"] == second["recipe"]
    pngs = sorted((tmp_path / "outputs").glob("*/*.png"))
    assert [p.name for p in pngs] == sorted(f"{i['id']}.png" for i in page["items"])
    assert pngs[0].parent.name == time.strftime("%Y-%m-%d")


def test_pages_follow_the_cursor_and_filters_narrow_them(tmp_path):
    with api_client(data_dir=tmp_path) as client:
        jobs = [run_job(client, {**GENERATE, "seed": s}) for s in range(5)]
        run_job(client, {"image": picture(), "class": "cat", "steps": 2, "model": "tiny"}, task="translate")
        seen, cursor = [], None
        while True:
            page = client.get("/api/results", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
            seen += [item["job_id"] for item in page["items"]]
            assert len(page["items"]) <= 2
            if not (cursor := page["next"]):
                break
        assert len(seen) == 6 and seen[1:] == [j["id"] for j in reversed(jobs)]
        only = client.get("/api/results", params={"task": "generate", "model": "tiny"}).json()["items"]
        assert [i["job_id"] for i in only] == [j["id"] for j in reversed(jobs)]
        name = jobs[0]["result"]["class_names"][0]
        by_class = client.get("/api/results", params={"class": name.upper()}).json()["items"]
        assert by_class and all(i["class"] == name for i in by_class)
        assert client.get("/api/results", params={"model": "plain"}).json()["items"] == []


@pytest.mark.parametrize("query, field", [({"cursor": "not-a-cursor"}, "cursor"), ({"cursor": "WzFd"}, "cursor"),
                                          ({"task": "nope"}, "task"), ({"model": "../x"}, "model"),
                                          ({"class": ""}, "class"), ({"limit": 0}, "limit")])
def test_a_bad_cursor_or_filter_is_a_422_naming_it(query, field):
    with api_client() as client:
        r = client.get("/api/results", params=query)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["query", field]
        assert r.json()["detail"][0]["msg"].startswith(field)


def test_delete_removes_the_entry_and_the_png(tmp_path):
    with api_client(data_dir=tmp_path) as client:
        job = run_job(client)
        item = client.get("/api/results").json()["items"][0]
        assert client.delete(f"/api/results/{item['id']}").status_code == 204
        for url in (f"/api/results/{item['id']}", item["png"]):
            assert client.get(url).status_code == 404
        assert client.delete(f"/api/results/{item['id']}").status_code == 404
        assert not list((tmp_path / "outputs").glob("*/*.png"))
        assert client.get(f"/api/jobs/{job['id']}").json()["status"] == "done"


def test_retention_by_count_keeps_the_newest(tmp_path):
    with api_client(data_dir=tmp_path, retain_count=3) as client:
        jobs = [run_job(client, {**GENERATE, "seed": s}) for s in range(5)]
        items = client.get("/api/results").json()["items"]
        assert [i["job_id"] for i in items] == [j["id"] for j in reversed(jobs)][:3]
    assert len(list((tmp_path / "outputs").glob("*/*.png"))) == 3


def test_retention_by_age_and_bytes(tmp_path):
    store = ResultStore(tmp_path)
    old = _saved(store, created=time.time() - 3 * 86400)
    store.retain = (0, 1, 0)     # one day
    new = _saved(store)          # saving a result prunes
    assert store.result(old) is None and store.result(new)
    assert len(list((tmp_path / "outputs").glob("*/*.png"))) == 1
    store.retain = (0, 0, 1)     # one byte: only what fits, i.e. nothing
    assert store.prune() == 1 and store.results(10) == []


def _saved(store: ResultStore, created: float | None = None) -> str:
    model = tiny_with_seeds()
    problem = tasks.build(model, "generate", class_="cat", steps=1)
    job = Job.of("generate", "tiny", problem)
    store.accept(job, pack_inputs(problem.recipe), None)
    result = solve_batch(model, [problem])[0]
    store.save_result(job, result_view(model, problem, result), 1)
    if created is not None:
        store._db.execute("UPDATE results SET created = ? WHERE job_id = ?", (created, job.id))
        store._db.commit()
    return f"{job.id}-0"


def test_a_finished_job_answers_from_the_store_once_it_expired_from_memory(tmp_path):
    with api_client(data_dir=tmp_path, job_ttl_s=0.05) as client:
        job = run_job(client)
        time.sleep(0.1)
        again = client.get(f"/api/jobs/{job['id']}").json()
        assert again == job
        assert client.post(f"/api/jobs/{job['id']}/cancel").json()["status"] == "done"


def test_no_store_runs_without_history(tmp_path):
    with api_client(store=False, data_dir=tmp_path) as client:
        assert client.get("/api/health").json()["store"] is False
        run_job(client)
        r = client.get("/api/results")
        assert r.status_code == 404 and "--no-store" in r.json()["detail"]
    assert not (tmp_path / DB_NAME).exists()


def test_jobs_left_open_by_a_dead_server_run_again_once(tmp_path):
    """What a crash leaves: jobs recorded as queued and as running by an owner that is gone."""
    model = tiny_with_seeds()
    store = ResultStore(tmp_path)
    rows = {}
    for name, status, attempts in (("queued", "queued", 0), ("running", "running", 1), ("spent", "running", 2)):
        problem = tasks.build(model, "translate", image=picture_tensor(), class_="cat", steps=2)
        job = Job.of("translate", "tiny", problem)
        job.attempts = attempts
        store.accept(job, pack_inputs(problem.recipe), "12345-deadbeef")   # an owner with no lock: dead
        if status == "running":
            store.started([job])
        rows[name] = job.id
    store.close()
    with api_client(models={"tiny": model}, data_dir=tmp_path) as client:
        queued, running = wait_for(client, rows["queued"]), wait_for(client, rows["running"])
        assert (queued["status"], running["status"]) == ("done", "done")
        spent = client.get(f"/api/jobs/{rows['spent']}").json()
        assert spent["status"] == "failed" and "each of its 2 attempts" in spent["error"]
        direct = run_job(client, {"image": picture(), "class": "cat", "steps": 2}, task="translate")
        assert direct["recipe"] == queued["recipe"]   # recovered from its recipe: the same job


def picture_tensor():
    return decode_image(picture(), "image", 10**6)


def test_two_front_ends_on_one_data_dir_write_at_once_and_leave_each_other_s_jobs_alone(tmp_path):
    gate = threading.Event()

    def held(model, problems, callbacks):   # front end A's jobs wait until the gate opens
        gate.wait(30)
        return solve_batch(model, problems, callbacks)

    with api_client(data_dir=tmp_path, solver=held) as a:
        held_id = a.post("/api/tasks/generate", json=GENERATE).json()["id"]
        with api_client(data_dir=tmp_path) as b:   # starts while A's job is open: must not take it
            assert b.get(f"/api/jobs/{held_id}").json()["status"] in ("queued", "running")
            events = read_events(b, f"/api/jobs/{held_id}/events", on_open=gate.set)   # followed in the store
            assert events[-1][0] == "done" and events[-1][1]["id"] == held_id
            results = {}

            def burst(client, name):
                results[name] = [run_job(client, {**GENERATE, "seed": s}) for s in range(4)]

            threads = [threading.Thread(target=burst, args=(c, n)) for c, n in ((a, "a"), (b, "b"))]
            [t.start() for t in threads]
            [t.join() for t in threads]
            assert all(j["status"] == "done" for js in results.values() for j in js)
            assert wait_for(a, held_id)["status"] == "done"
            listed = {i["job_id"] for i in b.get("/api/results", params={"limit": 100}).json()["items"]}
            assert listed == {j["id"] for js in results.values() for j in js} | {held_id}
            a_job = results["a"][0]
            assert b.get(f"/api/jobs/{a_job['id']}").json()["result"] == a_job["result"]


def test_a_full_disk_fails_the_job_with_a_clear_error_and_the_server_goes_on(tmp_path, monkeypatch):
    with api_client(data_dir=tmp_path) as client:
        real = files.write_png

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(files, "write_png", full)
        failed = run_job(client)
        assert failed["status"] == "failed"
        assert "disk is full" in failed["error"] and str(tmp_path) in failed["error"]
        monkeypatch.setattr(files, "write_png", real)
        assert run_job(client)["status"] == "done"
        assert len(client.get("/api/results").json()["items"]) == 1


def test_a_corrupt_database_is_a_clear_error_at_start(tmp_path, capsys):
    (tmp_path / DB_NAME).write_bytes(b"this is not a database, " * 100)
    with pytest.raises(StoreError, match="corrupt"):
        ResultStore(tmp_path)
    assert main(["serve", "--data-dir", str(tmp_path), "--model", "nonexistent"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / DB_NAME) in err and "corrupt" in err


def test_a_locked_database_is_a_clear_error_at_start(tmp_path):
    ResultStore(tmp_path).close()
    other = sqlite3.connect(tmp_path / DB_NAME)
    other.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="locked by another program"):
            ResultStore(tmp_path, busy_timeout_s=0.2)
        assert time.monotonic() - started < 5
    finally:
        other.rollback()
        other.close()


def test_a_data_dir_that_is_not_writable_stops_the_server_naming_it(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    data_dir = tmp_path / "file" / "data"
    assert main(["serve", "--data-dir", str(data_dir), "--model", "nonexistent"]) == 2
    err = capsys.readouterr().err
    assert f"the data dir {data_dir} is not writable" in err


def test_the_default_data_dir_honours_xdg_and_the_variable(monkeypatch, tmp_path):
    assert files.default_data_dir({"XDG_DATA_HOME": "/x"}) == files.Path("/x/robust-canvas")
    assert files.default_data_dir({"ROBUST_CANVAS_DATA_DIR": "/y", "XDG_DATA_HOME": "/x"}) == files.Path("/y")
    assert files.default_data_dir({}).parts[-3:] == (".local", "share", "robust-canvas")
    assert Settings.from_env({"ROBUST_CANVAS_RETAIN_COUNT": "5", "ROBUST_CANVAS_STORE": "false"}).retain_count == 5
