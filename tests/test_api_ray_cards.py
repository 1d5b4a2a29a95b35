"""With Ray the front end holds model cards, not models (docs/DEPLOY.md): it reads the cards of the
model files it serves, checks requests against them and queues recipes; only the Ray workers load
the weights. Clients see the same server: the same cards, the same 422s, the same pixels, palettes.

A local Ray with two CPU workers and two tiny models saved as files (one with feature names beside
its weights), as `robust-canvas serve --ray auto --model PATH` serves them; the embedded server loads
the same files for comparison.
"""
import base64
import io
from contextlib import contextmanager

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from server.api.app import create_app
from server.settings import Settings
from server.jobs.ray.worker import solve_by_key
from server.synthesis import tasks
from server.synthesis.features.names import FeatureNames, names_path
from server.synthesis.models.loading import Card
from server.synthesis.models.robust_model import RobustModel
from tests.api_support import picture, square_mask, tiny_with_seeds
from tests.conftest import make_tiny_model
from tests.model_support import save_model
from tests.named_support import name_tiny

ray = pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[test]' (or '.[ray]')")

NAMESPACE = "robust-canvas-cards-test"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    tiny = tiny_with_seeds()
    plain = make_tiny_model(1)
    plain.meta.id = "plain"
    name_tiny(plain, folder / "plain")   # <stem>.features.json (and .webp) beside its weights
    return (str(save_model(tiny, folder / "tiny", seeds=tiny.seeds)), str(save_model(plain, folder / "plain")))


@pytest.fixture(scope="module")
def built():
    """Every RobustModel built in this process (the front end's) while the module runs."""
    made, init = [], RobustModel.__init__

    def recording(self, *args, **kwargs):
        made.append(self)
        init(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RobustModel, "__init__", recording)
        yield made


@pytest.fixture(scope="module")
def client(tmp_path_factory, files, built):
    with pytest.MonkeyPatch.context() as patch:
        # palettes cached here, by the front end and by Ray's processes alike (they inherit it)
        patch.setenv("ROBUST_CANVAS_CACHE", str(tmp_path_factory.mktemp("cache")))
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, namespace=NAMESPACE)
        try:
            with serve(model_ids=files, ray="auto", ray_workers=2, ray_namespace=NAMESPACE) as client:
                assert not built, "the Ray front end built a model at start-up"
                yield client
        finally:
            ray.shutdown()


@contextmanager
def serve(**settings):
    with TestClient(create_app(Settings(**{"warm_palettes": False, "palette_wait_s": 120, **settings}))) as client:
        yield client


@contextmanager
def no_model_built(built):
    before = len(built)
    yield
    assert len(built) == before, "the Ray front end built a model"


def test_the_front_end_holds_the_cards_and_answers_the_same_cards(client, files, built):
    held = client.app.state.core.models
    assert list(held) == ["tiny", "plain"]
    assert all(type(m) is Card and not isinstance(m, torch.nn.Module) for m in held.values())
    with no_model_built(built):
        cards = client.get("/api/models").json()
    with serve(model_ids=files) as embedded:
        assert all(isinstance(m, RobustModel) for m in embedded.app.state.core.models.values())
        assert cards == embedded.get("/api/models").json()


@pytest.mark.parametrize("task,body,field", [
    ("translate", {"image": picture(), "class": "unicorn"}, "class"),
    ("translate", {"image": picture(), "class": 1, "eps": -1.0}, "eps"),
    ("translate", {"image": "data:image/png;base64,bm90IGFuIGltYWdl", "class": 1}, "image"),
    ("inpaint", {"image": picture(), "mask": square_mask(size=(16, 16), box=(2, 2, 8, 8))}, "mask"),
    ("inpaint", {"image": picture(), "mask": square_mask(box=(0, 0, 0, 0))}, "mask"),
    ("superresolve", {"image": picture((64, 64)), "factor": 8}, "factor"),
    ("paint", {"image": picture(), "mask": [square_mask(), square_mask()], "feature": [1]}, "feature"),
    ("paint", {"image": picture(), "mask": square_mask(), "feature": 10 ** 6}, "feature"),
    ("generate", {"class": "cat", "model": "nope"}, "model"),
])
def test_a_bad_request_is_the_same_422_naming_the_field(client, files, built, task, body, field):
    with no_model_built(built):
        refused = client.post(f"/api/tasks/{task}", json=body)
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == field, refused.text
    with serve(model_ids=files) as embedded:
        assert embedded.post(f"/api/tasks/{task}", json=body).json() == refused.json()


@pytest.mark.parametrize("task,body", [
    ("inpaint", {"image": picture(seed=3), "mask": square_mask(), "steps": 6, "seed": 4}),
    ("superresolve", {"image": picture((8, 8), seed=5), "factor": 2, "steps": 4, "seed": 1, "model": "plain"}),
    ("generate", {"class": ["cat", "dog"], "n": 2, "steps": 5, "seed": 7}),
])
def test_an_automatic_class_and_the_rest_give_the_embedded_servers_pixels(client, files, built, task, body):
    with no_model_built(built):
        got = client.post(f"/api/tasks/{task}?wait=true", json=body).json()
        assert got["status"] == "done", got
        again = client.post("/api/rerun?wait=true", json={"png": got["result"]["images"][-1]}).json()
    with serve(model_ids=files) as embedded:
        expected = embedded.post(f"/api/tasks/{task}?wait=true", json=body).json()
    assert [_pixels(x) for x in got["result"]["images"]] == [_pixels(x) for x in expected["result"]["images"]]
    assert got["result"] == expected["result"] and got["recipe"] == expected["recipe"]
    if "class" not in body:
        assert got["recipe"]["inputs"]["class"] is None     # automatic, guessed by the worker
    assert again["status"] == "done" and again["recipe"] == got["recipe"]
    assert _pixels(again["result"]["images"][-1]) == _pixels(got["result"]["images"][-1])


def test_the_palette_comes_from_a_ray_process(client, files, built):
    with no_model_built(built):
        palette = client.get("/api/models/tiny/features")
        assert client.get("/api/models/nope/features").status_code == 404
    assert palette.status_code == 200, palette.text
    with serve(model_ids=files) as embedded:
        assert palette.json() == embedded.get("/api/models/tiny/features").json()


def test_paint_by_feature_name_through_the_front_end(client, files, built):
    """The names are read from their file beside the weights: the front end resolves a name without them."""
    name = FeatureNames.load(names_path(files[1])).features[3].name
    body = {"image": picture(seed=2), "mask": square_mask(), "feature": name, "steps": 4, "seed": 3, "model": "plain"}
    with no_model_built(built):
        got = client.post("/api/tasks/paint?wait=true", json=body).json()
    assert got["status"] == "done" and got["recipe"]["inputs"]["feature"] == 3, got
    with serve(model_ids=files) as embedded:
        expected = embedded.post("/api/tasks/paint?wait=true", json=body).json()
    assert got["result"] == expected["result"]


def test_a_worker_splits_a_batch_whose_built_problems_disagree():
    model = tiny_with_seeds()
    runs = [tasks.build(model, "translate", image=torch.rand(1, 3, 32, 32), class_=1, steps=steps, seed=i)
            for i, steps in enumerate([2, 3, 2])]
    calls = []

    def solver(m, problems, callbacks):
        calls.append(len(problems))
        return tasks.solve_batch(m, problems, callbacks)

    results = solve_by_key(solver, model, runs, [None] * 3)
    assert calls == [2, 1]                    # the two of 2 steps together, the one of 3 alone
    expected = tasks.solve_batch(model, [runs[0], runs[2]])
    expected.insert(1, tasks.solve(model, runs[1]))
    for result, alone in zip(results, expected):
        assert torch.equal(result.images, alone.images) and result.steps_done == alone.steps_done


def _pixels(url: str) -> bytes:
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB").tobytes()
