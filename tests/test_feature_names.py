"""Named features (issue 19): names made from data and stored with the model, the palette answered
from the shipped files, filters, paint by name or class, and the CLI."""
import time

import numpy as np
import pytest
import torch
from PIL import Image

from server.synthesis import load_model, tasks
from server.synthesis.features import resolve_feature, top_feature
from server.synthesis.features.names import FeatureNames, find_feature_names, names_path
from server.synthesis.models.loading import models_dir
from tests.api_support import api_client, field_of, picture, square_mask
from tests.conftest import make_tiny_model
from tests.named_support import name_tiny

SHIPPED = ["imagenette-rn18w75-l2", "cifar10-rn18h-l2"]
PHOTO = "imagenette-rn18w75-l2"


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_CANVAS_CACHE", str(tmp_path / "cache"))  # palettes of tiny models land here


@pytest.fixture(scope="module")
def photo_model():
    return load_model(PHOTO, device="cpu")


@pytest.mark.parametrize("model_id", SHIPPED)
def test_shipped_names_are_small_files_beside_the_weights(model_id):
    json_file = names_path(models_dir() / f"{model_id}.safetensors")
    names = FeatureNames.load(json_file)
    assert names.sheet is not None and names.source["swatches"] is True
    assert json_file.stat().st_size + names.sheet.stat().st_size < 1.5e6
    with Image.open(names.sheet) as sheet:
        assert sheet.size[0] >= names.per_row * names.slots * names.tile


def test_names_load_with_the_model(photo_model):
    names = photo_model.feature_names
    assert names is not None and len(names.features) == photo_model.meta.num_features
    assert [f.index for f in names.features] == list(range(photo_model.meta.num_features))
    assert len({f.name for f in names.features}) == len(names.features)          # unique: a name is an address
    for c in photo_model.meta.classes:                                           # every class has a top feature
        k = names.top(c)
        assert names.features[k].name.startswith(c.replace("_", " ") + " · ") and names.features[k].rank == 1
        assert names.features[k].classes[0]["class"] == c and len(names.features[k].crops) == 3


def test_names_made_for_other_weights_are_ignored(tmp_path):
    model = make_tiny_model()
    name_tiny(model, tmp_path)
    weights = tmp_path / "tiny.safetensors"
    assert find_feature_names(weights, model) is not None
    with torch.no_grad():
        model.backbone.classifier().weight.add_(0.01)
    assert find_feature_names(weights, model) is None


def test_a_feature_resolves_by_name_class_or_index(tmp_path):
    model = make_tiny_model()
    names = name_tiny(model, tmp_path)
    f = names.features[5]
    assert resolve_feature(model, f.name) == 5
    assert resolve_feature(model, f.name.upper().replace(" · ", " ")) == 5   # case and the dot do not matter
    assert resolve_feature(model, "5") == 5 and resolve_feature(model, 5) == 5
    group = next(g.group for g in names.features if g.group)
    assert resolve_feature(model, group) == names.top(group) == top_feature(model, model.meta.classes.index(group))
    with pytest.raises(LookupError, match="unknown feature 'no such thing'"):
        resolve_feature(model, "no such thing")


def test_paint_by_name_is_paint_by_the_same_index(photo_model):
    x = torch.rand(3, 128, 128, generator=torch.Generator().manual_seed(0))
    m = torch.zeros(128, 128)
    m[32:96, 32:96] = 1
    k = photo_model.feature_names.top("church")
    few = {"steps": 3}
    by_index = tasks.run(photo_model, "paint", image=x, mask=m, feature=k, **few)
    by_name = tasks.run(photo_model, "paint", image=x, mask=m, feature=photo_model.feature_names.features[k].name, **few)
    by_class = tasks.run(photo_model, "paint", image=x, mask=m, feature="church", **few)
    assert torch.equal(by_index.images, by_name.images) and torch.equal(by_index.images, by_class.images)
    assert by_name.recipe.inputs["feature"] == k   # the recipe keeps the index


def test_the_photo_palette_answers_at_once_from_the_shipped_files(photo_model, monkeypatch):
    import server.synthesis.features.entries as entries

    def no_computing(*args, **kwargs):
        raise AssertionError("the shipped palette must not be computed")
    monkeypatch.setattr(entries, "feature_palette", no_computing)
    with api_client({PHOTO: photo_model}, palette_wait_s=30) as c:
        t = time.perf_counter()
        response = c.get(f"/api/models/{PHOTO}/features")
        seconds = time.perf_counter() - t
        assert response.status_code == 200 and seconds < 5, seconds   # 0.4 s here; generous for busy CI
        items = response.json()
        assert len(items) == photo_model.meta.num_features
        church = photo_model.feature_names.top("church")
        assert items[church]["name"].startswith("church · ") and items[church]["rank"] == 1
        assert items[church]["classes"][0]["class"] == "church" and items[church]["classes"][0]["weight"] > 0
        assert items[church]["thumbnail"].startswith("data:image/png;base64,")
        assert [u[:23] for u in items[church]["crops"]] == ["data:image/jpeg;base64,"] * 3
        # ?class=: the features linked to the class, strongest first; ?q=: words in the name or classes
        linked = c.get(f"/api/models/{PHOTO}/features", params={"class": "Church"}).json()
        assert linked[0]["index"] == church and all(any(x["class"] == "church" for x in f["classes"]) for f in linked)
        assert len(linked) < len(items)
        found = c.get(f"/api/models/{PHOTO}/features", params={"q": items[church]["name"]}).json()
        assert church in [f["index"] for f in found] and len(found) < len(linked)
        word = items[church]["colour"]
        assert all(word in f["name"] for f in c.get(f"/api/models/{PHOTO}/features", params={"q": word}).json())
        assert field_of(c.get(f"/api/models/{PHOTO}/features", params={"class": "unicorn"})) == "class"


def test_paint_by_name_over_the_api_and_an_unknown_name_is_a_422(tmp_path):
    model = make_tiny_model()
    names = name_tiny(model, tmp_path)
    body = {"image": picture(), "mask": square_mask(), "steps": 2}
    with api_client({"tiny": model}) as c:
        by_name = c.post("/api/tasks/paint?wait=true", json={**body, "feature": names.features[7].name}).json()
        by_index = c.post("/api/tasks/paint?wait=true", json={**body, "feature": 7}).json()
        assert by_name["status"] == "done" and by_name["result"]["images"] == by_index["result"]["images"]
        unknown = c.post("/api/tasks/paint", json={**body, "feature": "no such feature"})
        assert field_of(unknown) == "feature" and "unknown feature 'no such feature'" in unknown.json()["detail"][0]["msg"]
        listed = c.post("/api/tasks/paint", json={**body, "mask": [square_mask()] * 2, "feature": [7, "nope"]})
        assert field_of(listed) == "feature"
        # names without synthetic swatches in the sheet: the swatches are computed, the crops come from the sheet
        items = c.get("/api/models/tiny/features").json()
        assert items[7]["name"] == names.features[7].name and len(items[7]["crops"]) == 3


def test_a_palette_still_computing_is_a_503_with_retry_after():
    model = make_tiny_model()
    model.meta.input_size = 128        # slow enough to catch it computing
    with api_client({"tiny": model}, palette_wait_s=0) as c:
        first = c.get("/api/models/tiny/features")
        assert first.status_code == 503 and int(first.headers["Retry-After"]) >= 1
        assert "being computed" in first.json()["detail"]
        deadline = time.monotonic() + 300
        while (r := c.get("/api/models/tiny/features")).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert r.status_code == 200 and len(r.json()) == model.meta.num_features
        assert r.json()[0]["name"] is None and r.json()[0]["classes"]   # unnamed: classes from the weights


def test_cli_paints_a_class_top_feature(tmp_path, capsys):
    from server.cli import main
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    mask = np.zeros((96, 96), np.uint8)
    mask[24:72, 24:72] = 255
    Image.fromarray(mask).save(tmp_path / "region.png")
    argv = ["paint", str(tmp_path / "photo.png"), str(tmp_path / "region.png"), "church", "--steps", "1",
            "--model", PHOTO, "--out", str(tmp_path / "painted.png")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "painted.png").exists() and "painted: church · " in out
    assert main([*argv[:3], "no such feature", *argv[4:]]) == 2
    assert "unknown feature 'no such feature'" in capsys.readouterr().err


def test_cli_names_the_features_of_any_model(tmp_path, capsys):
    """`features name MODEL DATA_DIR` on a folder of images (here: random pictures in class folders)."""
    from safetensors.torch import save_file
    from server.cli import main
    model = make_tiny_model()
    save_file({k: v.contiguous() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")},
              str(tmp_path / "tiny.safetensors"))
    model.meta.save(tmp_path / "tiny.json")
    rng = np.random.default_rng(0)
    for c in model.meta.classes[:3]:
        (tmp_path / "data" / "train" / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "data" / "train" / c / f"{i}.png")
    weights = str(tmp_path / "tiny.safetensors")
    assert main(["features", "name", weights, str(tmp_path / "data"), "--tile", "16", "--no-swatches"]) == 0
    assert (tmp_path / "tiny.features.json").exists() and (tmp_path / "tiny.features.webp").exists()
    loaded = load_model(weights, device="cpu")
    assert loaded.feature_names is not None and loaded.feature_names.source["labels"] == "predictions"
    capsys.readouterr()
    assert main(["features", "list", weights, "-q", loaded.feature_names.features[0].name]) == 0
    assert capsys.readouterr().out.startswith("0\t")
