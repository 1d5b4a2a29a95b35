"""The browser path of a model of one's own, end to end in Chromium (issue 25): two classes of photos
picked and named, shrunk and uploaded, a tiny model trained, picked, used by translate, deleted.
The real app serves a tiny base model from a file, with its own data dir."""
import base64
import io
import json

import pytest
from PIL import Image

from server.api.app import create_app
from server.settings import Settings
from tests.frontend_harness import browser, serve
from tests.own_support import photo_bytes, save_base
from tests.test_frontend import _require_browser

try:
    from playwright.sync_api import expect
except ImportError:
    pass


@pytest.fixture
def site(tmp_path, monkeypatch):
    _require_browser()
    monkeypatch.setenv("ROBUST_CANVAS_CACHE", str(tmp_path / "cache"))
    base = save_base(tmp_path / "base")
    app = create_app(Settings(model_ids=(str(base),), data_dir=tmp_path / "data", warm_palettes=False,
                              palette_wait_s=120, device="cpu"))
    with serve(app) as url, browser() as b:
        context = b.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.errors = []
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        yield page, url, tmp_path / "data"
        context.close()


def big_photo(colour: str, index: int) -> bytes:
    """A 900x700 JPEG: the page shrinks it to 512 px before it is sent."""
    img = Image.open(io.BytesIO(photo_bytes(colour, index))).resize((900, 700))
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    return buf.getvalue()


def pick_class(section, index: int, name: str, files: list[dict]):
    row = section.locator(".own-class").nth(index)
    row.locator("input[type=text]").fill(name)
    row.locator("input[type=file]").set_input_files(files)
    expect(row.locator(".own-count")).to_have_text(f"{len(files)} photos")


def test_upload_two_classes_train_pick_translate_and_delete_in_the_browser(site):
    page, url, data_dir = site
    sent = []
    page.on("request", lambda r: r.url.endswith("/photos") and sent.append(json.loads(r.post_data)))
    page.goto(f"{url}/#own")
    page.wait_for_selector("#model option", state="attached")
    section = page.locator("#mode-own")
    reds = [{"name": f"r{i}.jpg", "mimeType": "image/jpeg", "buffer": big_photo("reds", i)} for i in range(6)]
    blues = [{"name": f"b{i}.png", "mimeType": "image/png", "buffer": photo_bytes("blues", i)} for i in range(6)]
    pick_class(section, 0, "Reds", reds)
    pick_class(section, 1, "Blues", blues)
    section.locator("input[name=name]").fill("colours")
    section.locator("details.advanced summary").click()
    section.locator("input[name=epochs]").fill("1")
    section.locator("[data-action=train]").click()
    expect(section.locator(".own-done")).to_be_visible(timeout=240_000)
    assert page.errors == []
    # Shrunk in the browser: JPEGs of at most 512 px a side.
    shrunk = [Image.open(io.BytesIO(base64.b64decode(p["data"].split(",", 1)[1])))
              for body in sent for p in body["photos"]]
    assert len(shrunk) == 12 and {im.format for im in shrunk} == {"JPEG"}
    assert max(max(im.size) for im in shrunk) == 512
    # In the model picker without a reload; translate offers the other class.
    expect(page.locator("#model option[value=colours]")).to_be_attached()
    section.locator(".own-done [data-action=use]").click()
    expect(page.locator("#model")).to_have_value("colours")
    translate = page.locator("#mode-translate")
    expect(translate).to_be_visible()
    assert translate.locator("select[name=class] option").evaluate_all("os => os.map((o) => o.value)") == ["blues", "reds"]
    translate.locator("select[name=class]").select_option("blues")
    translate.locator("input[type=file]").set_input_files({"name": "red.png", "mimeType": "image/png",
                                                           "buffer": photo_bytes("reds", 9)})
    with page.expect_response("**/api/tasks/translate") as started:
        translate.get_by_role("button", name="Translate", exact=True).click()
    translate.locator(".status", has_text="Done.").wait_for(timeout=120_000)
    assert started.value.json()["id"]
    job = page.request.get(f"{url}/api/jobs/{started.value.json()['id']}").json()
    assert job["model"] == "colours" and job["status"] == "done"
    # Delete it: gone from the picker and from the data dir, photos and all.
    page.goto(f"{url}/#own")
    page.once("dialog", lambda d: d.accept())
    section.locator(".own-model[data-model=colours] [data-action=delete]").click()
    expect(page.locator("#model option[value=colours]")).not_to_be_attached()
    assert not (data_dir / "models" / "colours").exists()
    assert page.errors == []


def test_a_chosen_folder_of_class_folders_becomes_the_classes_and_hidden_or_non_image_files_stay_out(site, tmp_path):
    page, url, _ = site
    root = tmp_path / "my-photos"
    for colour, n in (("reds", 3), ("blues", 7)):
        (root / colour).mkdir(parents=True)
        for i in range(n):
            (root / colour / f"{i}.png").write_bytes(photo_bytes(colour, i))
    (root / "reds" / "notes.txt").write_text("not a photo")
    (root / "reds" / ".hidden.png").write_bytes(photo_bytes("reds", 9))
    page.goto(f"{url}/#own")
    page.wait_for_selector("#model option", state="attached")
    section = page.locator("#mode-own")
    section.locator(".own-drop input[type=file]").set_input_files(root)
    rows = section.locator(".own-class")
    expect(rows).to_have_count(2)
    shown = {rows.nth(i).locator("input[type=text]").input_value(): rows.nth(i).locator(".own-count").text_content()
             for i in range(2)}
    assert shown == {"reds": "3 photos", "blues": "7 photos"}, shown
    expect(section.locator(".own-count.few")).to_have_count(1)           # reds: under 5, marked
    expect(section.locator("input[name=name]")).to_have_attribute("placeholder", "blues-vs-reds")
    section.locator("[data-action=train]").click()
    expect(section.locator(".error")).to_contain_text("“reds” has 3 photos")
    assert page.errors == []
