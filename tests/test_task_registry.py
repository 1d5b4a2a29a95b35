"""The task registry is the one definition: the API's schema and answers, the CLI's sub-commands
and the model cards' defaults all say what it says (the canvas's settings: tests/test_frontend.py)."""
import re

import pytest

from server.cli import main
from server.synthesis import tasks
from tests.api_support import api_client, read_events

MAX_STEPS = 123


@pytest.fixture(scope="module")
def client():
    with api_client(max_steps=MAX_STEPS, max_n=5) as c:
        yield c


@pytest.fixture(scope="module")
def openapi(client):
    return client.get("/openapi.json").json()


@pytest.mark.parametrize("task", list(tasks.TASKS))
def test_each_task_route_takes_exactly_the_registry_fields(openapi, task):
    spec = tasks.TASKS[task]
    body = openapi["paths"][f"/api/tasks/{task}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = openapi["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert set(schema["properties"]) == {"model"} | {f.name for f in spec.fields}
    assert set(schema.get("required", [])) == {f.name for f in spec.fields if f.required}
    for f in spec.fields:
        assert f.help in schema["properties"][f.name]["description"]
    if "steps" in schema["properties"]:  # this server's tighter limit is in the schema
        assert {"type": "integer", "maximum": MAX_STEPS, "minimum": 0} in schema["properties"]["steps"]["anyOf"]


def test_the_api_lists_the_registry(client):
    listed = {t["id"]: t for t in client.get("/api/tasks").json()}
    assert list(listed) == list(tasks.TASKS)
    for task, spec in tasks.TASKS.items():
        assert [f["name"] for f in listed[task]["fields"]] == [f.name for f in spec.fields]
        assert listed[task]["scaled"] == list(spec.scale_with_result)
        settings = {f["name"] for f in listed[task]["fields"] if f["setting"]}
        assert settings == set(spec.settings)


def test_model_cards_report_the_effective_defaults(client):
    from tests.api_support import tiny_with_seeds
    model = tiny_with_seeds()
    card = next(c for c in client.get("/api/models").json() if c["id"] == "tiny")
    assert card["task_defaults"] == {task: tasks.task_defaults(model, task) for task in tasks.TASKS}
    for task, spec in tasks.TASKS.items():
        assert set(card["task_defaults"][task]) == set(spec.settings)


@pytest.mark.parametrize("task", list(tasks.TASKS))
def test_the_cli_sub_command_offers_every_registry_field(task, capsys):
    with pytest.raises(SystemExit):
        main([task, "--help"])
    usage = capsys.readouterr().out
    for f in tasks.TASKS[task].fields:
        option = f"--{f.name.replace('_', '-')}"
        assert option in usage or (f.required and f.name.upper() in usage), (task, f.name)
        assert " ".join(f.help.split()[:3]) in " ".join(usage.split()), (task, f.name)


def test_a_field_another_task_has_is_refused_by_name(client):
    response = client.post("/api/tasks/generate", json={"class": "cat", "mask": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "mask"
    assert response.json()["detail"][0]["msg"].startswith("mask")


def test_security_is_declared_on_every_route_but_health(openapi):
    """People can be added while a server runs (`robust-canvas users add`): any route but health may
    then answer 401."""
    assert "HTTPBearer" in openapi["components"]["securitySchemes"]
    routes = (("/api/tasks/generate", "post"), ("/api/results", "get"), ("/api/jobs/{job_id}/events", "get"))
    for path, method in routes:
        assert "401" in openapi["paths"][path][method]["responses"] and "security" in openapi["paths"][path][method]
    assert "security" not in openapi["paths"]["/api/health"]["get"]


def test_every_error_a_route_gives_is_documented(openapi):
    paths = openapi["paths"]
    assert {"400", "413", "422", "429"} <= set(paths["/api/tasks/inpaint"]["post"]["responses"])
    for path in ("/api/jobs/{job_id}", "/api/jobs/{job_id}/events", "/api/models/{model_id}/features"):
        assert "404" in paths[path]["get"]["responses"], path
    assert "404" in paths["/api/jobs/{job_id}/cancel"]["post"]["responses"]
    # a job is cancelled by an action and stays readable; only a stored result is deleted
    assert not any(method == "delete" for path, ops in paths.items() if path.startswith("/api/jobs") for method in ops)
    assert set(paths["/api/results/{result_id}"]) == {"get", "patch", "delete"}   # patch: share it


def test_a_cancelled_job_stays_readable(client):
    job = client.post("/api/tasks/generate", json={"class": "cat", "steps": MAX_STEPS}).json()
    cancelled = client.post(f"/api/jobs/{job['id']}/cancel").json()
    assert cancelled["id"] == job["id"]
    assert read_events(client, job["events_url"])[-1][0] == "cancelled"   # the stream ends with the job
    view = client.get(f"/api/jobs/{job['id']}")
    assert view.status_code == 200 and view.json()["status"] == "cancelled"
    assert client.post(f"/api/jobs/{job['id']}/cancel").json()["status"] == "cancelled"   # idempotent


def test_the_docs_name_no_task_the_registry_lacks():
    """README and docs use the registry's task and field names (no retired spellings)."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    text = "\n".join((root / p).read_text() for p in ("README.md", "docs/API.md", "docs/TASKS.md"))
    for retired in ("sketch_to_image", "paint_features", "DELETE /api/jobs", "--weight ", "REFERENCE_DEFAULTS"):
        assert retired not in text, retired
    assert re.search(r"POST /api/jobs/\{id\}/cancel", text)
