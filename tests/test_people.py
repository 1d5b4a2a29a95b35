"""People on one server (issue 28), over HTTP: each sees only their own jobs and results, another's
id answers 404 as an unknown one, sharing is on purpose, a removed person is refused at once, the
event stream takes a one-job ticket and never a token, and a server beyond loopback with nobody
to let in does not start."""
import sqlite3
import time

import httpx
import pytest

from server.api.app import create_app
from server.settings import Settings
from server.cli import main
from server.client import ApiError, Client
from server.store.sqlite import ResultStore
from tests.api_support import tiny_with_seeds
from tests.frontend_harness import serve

FEW = {"steps": 2}


def add(data_dir, *names, admin=False) -> list[str]:
    store = ResultStore(data_dir)
    try:
        return [store.add_person(name, admin=admin) for name in names]
    finally:
        store.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("people")
    (a, b), (root,) = add(data_dir, "ana", "bo"), add(data_dir, "root", admin=True)
    app = create_app(Settings(data_dir=data_dir, warm_palettes=False), models={"tiny": tiny_with_seeds()})
    with serve(app) as url:
        yield {"url": url, "data_dir": data_dir, "a": a, "b": b, "root": root}


def client(server, who: str) -> Client:
    return Client(server["url"], token=server[who] if who else None)


def status(call) -> int:
    try:
        call()
    except ApiError as e:
        return e.status
    return 200


def test_another_person_s_ids_answer_404_and_lists_show_one_s_own(server):
    with client(server, "a") as ana, client(server, "b") as bo, client(server, "root") as root:
        job = ana.run("generate", {"class": "cat", "n": 2, **FEW})
        mine = [item["id"] for item in ana.results()["items"]]
        assert len(mine) == 2 and all(rid.startswith(job.id) for rid in mine)
        assert bo.results()["items"] == []
        assert set(mine) <= {item["id"] for item in root.results()["items"]}   # an admin sees everyone's
        for rid in mine:
            for call in (lambda: bo.result(rid), lambda: bo.result_png(rid), lambda: bo.delete_result(rid),
                         lambda: bo.share(rid), lambda: bo.rerun_result(rid)):
                assert status(call) == 404
        for call in (lambda: bo.get(job.id), lambda: bo.cancel(job.id), lambda: list(bo.events(job.id))):
            assert status(call) == 404
        ticket = httpx.post(f"{server['url']}/api/jobs/{job.id}/ticket",
                            headers={"Authorization": f"Bearer {server['b']}"})
        assert ticket.status_code == 404
        assert ana.result(mine[0])["owner"] == "ana" and ana.get(job.id).status == "done"
        assert ana.wait(ana.rerun_result(mine[0])).status == "done"   # rerun by id: one's own
        root.delete_result(mine[1])                                    # an admin may delete anyone's
        assert status(lambda: ana.result(mine[1])) == 404


def test_a_public_result_opens_for_anyone_by_its_link_and_stays_its_owner_s(server):
    with client(server, "a") as ana, client(server, "b") as bo:
        job = ana.run("generate", {"class": "dog", **FEW})
        rid = ana.results(task="generate", class_=job.result["class_names"][0])["items"][0]["id"]
        assert status(lambda: bo.result(rid)) == 404
        assert ana.share(rid)["public"] is True
        assert bo.result(rid)["owner"] == "ana" and bo.result_png(rid) == ana.result_png(rid)
        assert bo.results()["items"] == []               # shared by link, not listed
        assert status(lambda: bo.delete_result(rid)) == 403 and status(lambda: bo.share(rid, False)) == 403
        ana.share(rid, False)
        assert status(lambda: bo.result_png(rid)) == 404


def test_a_removed_person_is_refused_from_their_next_request(server, capsys):
    assert main(["users", "add", "cy", "--data-dir", str(server["data_dir"])]) == 0
    token = capsys.readouterr().out.splitlines()[-1]
    with Client(server["url"], token=token) as cy:
        assert cy.results()["items"] == []
        assert main(["users", "remove", "cy", "--data-dir", str(server["data_dir"])]) == 0
        assert status(cy.results) == 401 and status(cy.models) == 401
    with client(server, None) as nobody:   # people exist: no token, no entry, even on 127.0.0.1
        assert status(nobody.models) == 401
        assert nobody.health()["status"] == "ok"


def test_the_database_keeps_no_token(server):
    data = b"".join(p.read_bytes() for p in server["data_dir"].glob("robust-canvas.db*"))
    assert not any(server[who].encode() in data for who in ("a", "b", "root"))


def test_the_event_stream_takes_a_ticket_for_its_job_never_a_token(server):
    url, headers = server["url"], {"Authorization": f"Bearer {server['a']}"}
    with client(server, "a") as ana:
        first, second = (ana.submit("generate", {"class": c, **FEW}) for c in ("cat", "dog"))
        ticket = httpx.post(f"{url}/api/jobs/{first}/ticket", headers=headers).json()["ticket"]
        with httpx.stream("GET", f"{url}/api/jobs/{first}/events", params={"ticket": ticket}) as r:
            assert r.status_code == 200 and "event: done" in r.read().decode()
        assert httpx.get(f"{url}/api/jobs/{second}/events", params={"ticket": ticket}).status_code == 401
        assert httpx.get(f"{url}/api/jobs/{first}/events", params={"token": server["a"]}).status_code == 401
        assert httpx.get(f"{url}/api/jobs/{first}/events", params={"ticket": ticket + "0"}).status_code == 401
        ana.wait(second)


def test_a_ticket_expires(monkeypatch, tmp_path):
    from server.api.tickets import TICKET_S, Tickets
    from server.store.people import Person
    tickets = Tickets(b"k" * 32)
    ticket = tickets.issue("job1", Person("ana"))
    assert tickets.check(ticket, "job1") == Person("ana") and tickets.check(ticket, "job2") is None
    assert tickets.check("\U000e8ede", "job1") is None and tickets.check(ticket + "é", "job1") is None  # fuzzed: a 500
    later = time.time() + TICKET_S + 1
    monkeypatch.setattr("server.api.tickets.time.time", lambda: later)
    assert tickets.check(ticket, "job1") is None


def test_on_a_laptop_with_nobody_configured_nothing_changes_until_someone_is_added(tmp_path):
    app = create_app(Settings(data_dir=tmp_path, warm_palettes=False), models={"tiny": tiny_with_seeds()})
    with serve(app) as url, Client(url) as me:
        job = me.run("generate", {"class": "cat", **FEW})
        assert me.results()["items"][0]["owner"] == "local" and me.get(job.id).status == "done"
        (token,) = add(tmp_path, "dee")
        assert status(me.models) == 401                     # at once, without a restart
        with Client(url, token=token) as dee:
            assert dee.results()["items"] == [] and status(lambda: dee.get(job.id)) == 404


def test_serving_beyond_loopback_with_nobody_configured_exits_2(tmp_path, capsys, monkeypatch):
    started = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: started.append(kw["host"]))
    monkeypatch.setattr("server.api.app.load_served", lambda settings: {"tiny": tiny_with_seeds()})
    serve_args = ["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)]
    assert main(serve_args) == 2 and not started
    error = capsys.readouterr().err
    assert "0.0.0.0" in error and "robust-canvas users add NAME" in error and "--insecure-open" in error
    assert main([*serve_args, "--insecure-open"]) == 0 and started == ["0.0.0.0"]
    add(tmp_path, "eve")
    assert main(serve_args) == 0 and started == ["0.0.0.0"] * 2
    assert main(["serve", "--host", "0.0.0.0", "--no-store", "--token", "s3cret"]) == 0


def test_a_database_from_before_people_is_migrated_its_results_the_laptop_user_s(tmp_path):
    old = sqlite3.connect(tmp_path / "robust-canvas.db")
    old.executescript("""
        CREATE TABLE jobs (id TEXT PRIMARY KEY, task TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL,
            step INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL, recipe TEXT NOT NULL, inputs BLOB,
            attempts INTEGER NOT NULL DEFAULT 0, owner TEXT, error TEXT, result TEXT, created REAL NOT NULL,
            finished REAL);
        CREATE TABLE results (id TEXT PRIMARY KEY, job_id TEXT NOT NULL, idx INTEGER NOT NULL, task TEXT NOT NULL,
            model TEXT NOT NULL, class TEXT NOT NULL, seed INTEGER NOT NULL, created REAL NOT NULL,
            width INTEGER NOT NULL, height INTEGER NOT NULL, bytes INTEGER NOT NULL, score REAL, path TEXT NOT NULL);
        INSERT INTO jobs VALUES ('j1', 'generate', 'tiny', 'done', 2, 2, '{}', NULL, 1, NULL, NULL, '{}', 1.0, 2.0);
        INSERT INTO results VALUES ('j1-0', 'j1', 0, 'generate', 'tiny', 'cat', 0, 2.0, 32, 32, 10, 0.5,
                                    'outputs/x/j1-0.png');""")
    old.commit()
    old.close()
    store = ResultStore(tmp_path)
    try:
        (row,) = store.results(10)
        assert row["id"] == "j1-0" and row["person"] == "local" and row["public"] == 0
        assert store.job("j1")["person"] == "local" and store.results(10, person="ana") == []
        store.add_person("ana")
        assert [p["name"] for p in store.list_people()] == ["ana"]
    finally:
        store.close()
    ResultStore(tmp_path).close()   # opened again: nothing left to migrate


def test_sharing_a_result_deleted_meanwhile_answers_404(monkeypatch):
    """Schemathesis found it: a DELETE between a PATCH's check and its answer gave a 500."""
    from tests.api_support import api_client, wait_for
    with api_client() as client:
        job = client.post("/api/tasks/generate", json={"class": "cat", **FEW}).json()
        wait_for(client, job["id"])
        rid = client.get("/api/results").json()["items"][0]["id"]
        share = ResultStore.share

        def delete_first(store, result_id, public):
            store.delete(result_id)
            share(store, result_id, public)

        monkeypatch.setattr(ResultStore, "share", delete_first)
        response = client.patch(f"/api/results/{rid}", json={"public": True})
        assert response.status_code == 404 and rid in response.json()["detail"]
