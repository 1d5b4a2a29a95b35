"""Browser tests of the canvas app: Playwright drives the system Chromium against the real API app
(server.api.app.create_app) serving tiny random models (32 px, the default; 16 px; 128 px, the
photo model's size), so every request, event stream and error message is the real one. Without
a browser they skip locally and fail in CI (env CI set).
"""
import base64
import io
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from tests.frontend_harness import browser, chromium_path, serve

try:
    from playwright.sync_api import expect
    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False


def _require_browser():
    missing = None if HAVE_PLAYWRIGHT else "the playwright package is not installed (pip install playwright)"
    missing = missing or (None if chromium_path() else "no Chromium found (apt-get install chromium)")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {missing}")
        pytest.skip(f"browser tests need a browser: {missing}")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    _require_browser()
    from tests.frontend_real import tiny_app
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROBUST_CANVAS_CACHE", str(tmp_path_factory.mktemp("cache")))  # palettes land here
        with serve(tiny_app(preview_every=2)) as url, browser() as b:
            yield {"url": url, "browser": b}


@pytest.fixture
def page(site):
    context = site["browser"].new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)  # generous: CI machines can be busy
    page.errors = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.base = site["url"]
    yield page
    context.close()


def open_mode(page, mode):
    page.goto(f"{page.base}/#{mode}")
    page.wait_for_selector("#model option", state="attached")  # models loaded
    return page.locator(f"#mode-{mode}")


def draw(page, canvas, points):
    box = canvas.bounding_box()
    x0, y0 = box["x"] + points[0][0] * box["width"], box["y"] + points[0][1] * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=8)
    page.mouse.up()


def capture_bodies(page, task):
    bodies = []
    page.on("request", lambda r: r.method == "POST" and r.url.endswith(f"/api/tasks/{task}")
            and bodies.append(json.loads(r.post_data)))
    return bodies


def decode(url):
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def png_bytes(color=(200, 80, 40), size=48):
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, "PNG")
    return buf.getvalue()


def upload_png(section, color=(200, 80, 40), size=48):
    section.locator("input[type=file]").set_input_files(
        {"name": "photo.png", "mimeType": "image/png", "buffer": png_bytes(color, size)})


def drop_png(page, target, color=(200, 80, 40), size=48, data=None, name="dropped.png"):
    """Drop a PNG file (`data`, else a plain one of `color`) onto `target` as a file manager would."""
    transfer = page.evaluate_handle("""([b64, name]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, {type: 'image/png'}));
        return dt;
    }""", [base64.b64encode(data or png_bytes(color, size)).decode(), name])
    target.dispatch_event("drop", {"dataTransfer": transfer})


def wait_done(section):
    section.locator(".status", has_text="Done.").wait_for()
    return section.locator(".result-body figure img")


def rgb(url):
    """The pixels of a PNG data URL, (H,W,3) int16 (differences do not wrap)."""
    return np.asarray(decode(url).convert("RGB"), dtype=np.int16)


def job_images(page, job_id):
    """The result images the server returned for a finished job (data URLs)."""
    job = page.request.get(f"{page.base}/api/jobs/{job_id}").json()
    assert job["status"] == "done", job
    return job["result"]["images"]


def shown_images(section):
    """The src of each result image the section shows."""
    return section.locator(".result-body figure img").evaluate_all("imgs => imgs.map((i) => i.src)")


def board_picture(page, mode):
    """The picture on a mode's board, as the mode would send it (a photo board: the photo at its own
    size; a sketch board: the model's input size)."""
    return rgb(page.evaluate("async (mode) => (await import('/js/modes/index.js')).modeById(mode).board.imageDataURL()", mode))


def assert_board_holds(page, mode, expected, others=()):
    """The mode's board holds the picture `expected` (a data URL), and none of `others`."""
    on_board, want = board_picture(page, mode), rgb(expected)
    assert on_board.shape == want.shape, (on_board.shape, want.shape)
    assert np.abs(on_board - want).max() <= 1, f"the {mode} board holds another picture"
    for other in others:
        if np.abs(rgb(other) - want).max() > 2:   # pictures this check can tell from the expected one
            assert np.abs(on_board - rgb(other)).max() > 1, f"the {mode} board holds the wrong picture"


def set_advanced(section, **values):
    section.locator("details.advanced summary").click()
    for name, value in values.items():
        section.locator(f"details.advanced input[name={name}]").fill(str(value))


# ---- tests ------------------------------------------------------------------------------------------

def test_all_modes_load_without_console_errors(page):
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    open_mode(page, "sketch")
    for mode in ("paint", "inpaint", "superresolve", "translate", "generate", "sketch"):
        page.click(f"#tab-{mode}")
        expect(page.locator(f"#mode-{mode}")).to_be_visible()
        expect(page.locator(f"#tab-{mode}")).to_have_attribute("aria-selected", "true")
    assert page.locator("#mode-sketch select[name=class] option").count() >= 2
    assert page.errors == []
    outside = [u for u in requested if not u.startswith((page.base, "data:"))]
    assert outside == [], "everything is served by the app itself (no CDN)"


def test_sketch_to_image_with_undo_redo(page):
    section = open_mode(page, "sketch")
    bodies = capture_bodies(page, "sketch")
    canvas = section.locator("canvas")
    draw(page, canvas, [(0.2, 0.2), (0.8, 0.3), (0.5, 0.8)])
    section.locator(".swatch").nth(4).click()  # red
    draw(page, canvas, [(0.3, 0.6), (0.7, 0.6)])
    undo = section.get_by_role("button", name="Undo")
    redo = section.get_by_role("button", name="Redo")
    page.keyboard.press("Control+z")
    expect(redo).to_be_enabled()
    page.keyboard.press("Control+y")
    expect(redo).to_be_disabled()
    expect(undo).to_be_enabled()
    page.keyboard.press("]")
    assert section.locator(".size-out").inner_text() == "3 px"
    section.locator("select[name=class]").select_option(index=2)
    with page.expect_response("**/api/tasks/sketch") as started:
        section.locator("[data-action=go]").click()
    img = wait_done(section)
    assert img.count() == 1 and img.first.evaluate("i => i.complete && i.naturalWidth > 0")
    assert shown_images(section) == job_images(page, started.value.json()["id"]), "the server's result is shown"
    sent = decode(bodies[0]["image"])
    size = page.evaluate("() => Number(document.querySelector('#model-info').textContent.match(/(\\d+)px/)[1])")
    assert sent.size == (size, size)
    colors = sent.convert("RGB").getcolors(size * size)
    assert len(colors) > 2  # strokes of two colours on white arrived
    assert page.locator("#gallery .thumb").count() >= 1
    result, board = img.first.bounding_box(), canvas.bounding_box()
    assert result["x"] >= board["x"] + board["width"], "the result is shown beside the sketch"
    # keep drawing on the result, and step back to the sketch with undo
    sketch_pixels = canvas.evaluate("c => c.toDataURL()")
    section.get_by_role("button", name="Draw on this result").click()
    page.wait_for_function("([c, before]) => c.toDataURL() !== before", arg=[canvas.element_handle(), sketch_pixels])
    page.keyboard.press("Control+z")
    assert canvas.evaluate("c => c.toDataURL()") == sketch_pixels
    assert page.errors == []


def test_inpaint_upload_mask_and_restore(page):
    section = open_mode(page, "inpaint")
    bodies = capture_bodies(page, "inpaint")
    section.locator("[data-action=go]").click()
    assert "Load an image first" in section.locator(".error").inner_text()
    drop_png(page, section.locator(".stage"), color=(40, 160, 90))
    section.locator(".stage-hint").wait_for(state="hidden")
    section.locator("[data-action=go]").click()
    assert "Brush over the region" in section.locator(".error").inner_text()
    assert (board_picture(page, "inpaint") == (40, 160, 90)).all(), "the dropped picture is on the board"
    draw(page, section.locator("canvas"), [(0.3, 0.3), (0.6, 0.5)])
    with page.expect_response("**/api/tasks/inpaint") as started:
        section.locator("[data-action=go]").click()
    assert wait_done(section).count() == 1
    assert shown_images(section) == job_images(page, started.value.json()["id"]), "the server's result is shown"
    expect(section.locator(".error")).to_be_hidden()
    image = decode(bodies[0]["image"]).convert("RGB")
    assert (np.asarray(image) == (40, 160, 90)).all()  # the dropped picture went out, all of it
    assert image.size == (48, 48) == decode(shown_images(section)[0]).size, "at its own size, and so is the result"
    mask = decode(bodies[0]["mask"]).convert("LA")
    assert mask.size == image.size
    lum, alpha = (np.asarray(band, dtype=np.int32) for band in mask.split())
    coverage = lum * alpha // 255  # how the server reads a mask
    assert coverage.min() == 0 and coverage.max() == 255  # a white region on a clear background
    assert page.errors == []


def test_cancel_running_job(page):
    section = open_mode(page, "generate")
    set_advanced(section, steps=1000)
    with page.expect_response("**/api/tasks/generate") as started:
        section.locator("[data-action=go]").click()
    job_id = started.value.json()["id"]
    section.locator(".result-body.is-preview img").first.wait_for()  # previews stream in
    section.locator("[data-action=stop]").click()
    section.locator(".status", has_text="Stopped; the last preview is kept.").wait_for()
    job = page.request.get(f"{page.base}/api/jobs/{job_id}").json()
    assert job["status"] == "cancelled" and job["step"] < 1000
    assert section.locator(".result-body figure img").count() == 8  # every image's last preview
    assert section.locator(".result-actions a[download]").count() == 1
    expect(section.locator("[data-action=go]")).to_be_enabled()
    expect(section.locator("[data-action=stop]")).to_be_disabled()
    assert page.errors == []


def test_api_errors_are_shown_in_place(page):
    section = open_mode(page, "generate")
    set_advanced(section, steps=999999)
    section.locator("[data-action=go]").click()
    error = section.locator(".error")
    expect(error).to_contain_text("steps must be at most")  # FastAPI's list format, from the real server
    expect(section.locator("input[name=steps]")).to_have_attribute("aria-invalid", "true")
    expect(section.locator(".status")).to_have_text("Not started.")
    # a plain {detail: "..."} answer
    page.route("**/api/tasks/generate", lambda route: route.fulfill(
        status=429, content_type="application/json", body=json.dumps({"detail": "the job queue is full; retry in 3 s"})))
    section.locator("input[name=steps]").fill("")
    section.locator("[data-action=go]").click()
    expect(error).to_have_text("the job queue is full; retry in 3 s")
    expect(section.locator("input[name=steps]")).not_to_have_attribute("aria-invalid", "true")
    # the browser logs each refused request itself; nothing else may fail
    assert len(page.errors) == 2 and all("422" in e or "429" in e for e in page.errors)


def test_generate_grid_then_edit_in_paint(page):
    section = open_mode(page, "generate")
    section.locator("input[name=n]").fill("4")
    with page.expect_response("**/api/tasks/generate") as started:
        section.locator("[data-action=go]").click()
    images = wait_done(section)
    assert images.count() == 4
    returned = job_images(page, started.value.json()["id"])
    assert shown_images(section) == returned, "the grid shows the images the server returned, in order"
    section.locator(".result-body figure").nth(2).click()
    assert "selected" in section.locator(".result-body figure").nth(2).get_attribute("class")
    section.locator(".result-actions [data-open=paint]").click()
    paint = page.locator("#mode-paint")
    expect(paint).to_be_visible()
    paint.locator(".stage-hint").wait_for(state="hidden")
    assert page.url.endswith("#paint")
    assert_board_holds(page, "paint", returned[2], others=returned)   # the selected one, not another


def test_the_palette_is_grouped_by_class_named_and_searchable(page):
    section = open_mode(page, "paint")
    groups = section.locator(".palette-group")
    groups.first.wait_for()
    names = page.request.get(f"{page.base}/api/models/tiny/features").json()
    named = {f["group"] for f in names if f["group"]}
    assert groups.count() == len(named) + any(f["group"] is None for f in names)
    first = names[0]
    button = section.locator(f".feature[data-feature='{first['index']}']")
    assert button.get_attribute("title") == first["name"]
    button.hover()                                         # hovering shows its name and larger swatches
    expect(section.locator(".feature-preview-name")).to_contain_text(first["name"])
    expect(section.locator(".feature-preview-swatches img")).to_have_count(1 + len(first["crops"]))
    section.locator(".palette-search").fill(first["name"])  # searching leaves the features with every word
    expect(button).to_be_visible()
    visible = section.locator(".feature:visible")
    words = first["name"].lower().replace("·", " ").split()
    assert 0 < visible.count() < len(names)
    assert all(all(w in visible.nth(i).get_attribute("data-search") for w in words) for i in range(visible.count()))
    section.locator(".palette-search").fill("no such words")
    expect(section.locator(".palette-group:visible")).to_have_count(0)
    section.locator(".palette-search").fill("")
    # the result says what was painted
    upload_png(section, color=(90, 140, 200))
    button.click()
    draw(page, section.locator("canvas"), [(0.1, 0.1), (0.5, 0.4)])
    section.locator("[data-action=go]").click()
    wait_done(section)
    expect(section.locator(".painted")).to_have_text(f"painted: {first['name']}")
    assert page.errors == []


def test_paint_with_a_feature(page):
    section = open_mode(page, "paint")
    bodies = capture_bodies(page, "paint")
    upload_png(section, color=(90, 140, 200))
    section.locator(".feature").nth(3).click()
    draw(page, section.locator("canvas"), [(0.1, 0.1), (0.5, 0.4)])
    with page.expect_response("**/api/tasks/paint") as started:
        section.locator("[data-action=go]").click()
    wait_done(section)
    assert bodies[0]["feature"] == int(section.locator(".feature").nth(3).get_attribute("data-feature"))
    returned = job_images(page, started.value.json()["id"])
    assert shown_images(section) == returned
    expect(section.get_by_role("button", name="Undo")).to_be_enabled()
    assert_board_holds(page, "paint", returned[0], others=[bodies[0]["image"]])  # the result landed on the canvas
    assert decode(returned[0]).size == decode(bodies[0]["image"]).size == (48, 48), "at the photo's own size"
    section.get_by_role("button", name="Undo").click()   # back to the photo before the stroke
    assert_board_holds(page, "paint", bodies[0]["image"], others=returned)
    section.get_by_role("button", name="Redo").click()
    assert_board_holds(page, "paint", returned[0], others=[bodies[0]["image"]])
    # a stroke that changes nothing (here: zero steps) says so
    draw(page, section.locator("canvas"), [(0.6, 0.6), (0.9, 0.9)])
    set_advanced(section, steps=0)
    section.locator("[data-action=go]").click()
    expect(section.get_by_text("That feature barely shows in the brushed region")).to_be_visible()
    assert page.errors == []


def test_superresolve_and_translate(page):
    # a small picture goes at its own size: 16 px x 4 = 64 px
    section = open_mode(page, "superresolve")
    upload_png(section, size=16)
    with page.expect_response("**/api/tasks/superresolve") as started:
        section.get_by_role("button", name="Upscale", exact=True).click()
    assert wait_done(section).first.evaluate("i => i.naturalWidth") == 64
    assert shown_images(section) == job_images(page, started.value.json()["id"])
    expect(section.locator(".result .true-size")).to_contain_text("64 × 64 px")
    # a photo larger than the model's input goes at its own size, and its result has that size
    section = open_mode(page, "translate")
    bodies = capture_bodies(page, "translate")
    upload_png(section, size=48)
    expect(section.locator(".source-view .true-size")).to_have_text("48 × 48 px")
    expect(section.locator(".source-view .fit-hint")).to_be_hidden()  # it fits the server's limits
    with page.expect_response("**/api/tasks/translate") as started:
        section.get_by_role("button", name="Translate", exact=True).click()
    assert wait_done(section).count() == 1
    assert shown_images(section) == job_images(page, started.value.json()["id"])
    assert decode(bodies[0]["image"]).size == (48, 48)
    assert decode(shown_images(section)[0]).size == (48, 48)
    expect(section.locator(".result .true-size")).to_contain_text("48 × 48 px")
    assert page.errors == []


# ---- photographs at their own resolution: the photo goes out as it is, the result comes back at its size ----

def photo_png(width, height):
    """A made-up photo of width x height: a horizontal gradient with a dark block (not one flat colour)."""
    x = np.linspace(0, 255, width, dtype=np.float64)[None, :, None]
    img = np.broadcast_to(np.concatenate([x, 255 - x, np.full_like(x, 128)], axis=2), (height, width, 3)).copy()
    img[height // 4: height // 2, width // 3: width // 2] = (20, 30, 40)
    buf = io.BytesIO()
    Image.fromarray(img.astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def upload_photo(section, width, height, name="photo.png"):
    data = photo_png(width, height)
    section.locator("input[type=file]").set_input_files({"name": name, "mimeType": "image/png", "buffer": data})
    return data


def within_window(page, locator):
    box = locator.bounding_box()
    size = page.evaluate("() => [window.innerWidth, window.innerHeight]")
    return box["width"] <= size[0] and box["height"] <= size[1], (box, size)


def uncovered(layer):
    """The share of a clipped layer's width that shows, from its computed clip-path inset(t r b l)."""
    clip, width = layer.evaluate("b => [getComputedStyle(b).clipPath, b.getBoundingClientRect().width]")
    top, right, bottom, left = clip.removeprefix("inset(").removesuffix(")").split()
    assert top == bottom == left == "0px", clip
    hidden = float(right[:-1]) / 100 if right.endswith("%") else float(right.removesuffix("px")) / width
    return round(1 - hidden, 3)


def test_a_photo_translates_at_its_own_size_and_compares_with_its_result(page):
    section = open_mode(page, "translate")
    bodies = capture_bodies(page, "translate")
    data = upload_photo(section, 200, 150)
    expect(section.locator(".source-view .true-size")).to_have_text("200 × 150 px")
    with page.expect_response("**/api/tasks/translate") as started:
        section.get_by_role("button", name="Translate", exact=True).click()
    img = wait_done(section).first
    assert img.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [200, 150], "the result has the photo's size"
    assert shown_images(section) == job_images(page, started.value.json()["id"])
    assert base64.b64decode(bodies[0]["image"].split(",", 1)[1]) == data, "the photo itself went out, byte for byte"
    expect(section.locator(".result .true-size")).to_contain_text("200 × 150 px")
    # the result fits the window, at the photo's aspect ratio
    fits, boxes = within_window(page, img)
    assert fits, boxes
    box = img.bounding_box()
    assert abs(box["width"] / box["height"] - 200 / 150) < 0.02, box
    # before/after: the slider uncovers the photo it was made from, laid over the result at its size
    before = section.locator(".result .frame .before")
    assert before.evaluate("b => getComputedStyle(b).backgroundImage").startswith('url("data:image/png')
    assert before.bounding_box() == box, "the input is shown at the result's size, on top of it"
    assert uncovered(before) == 0, "at first the result alone shows"
    section.locator(".compare-slider").fill("100")
    assert uncovered(before) == 1, "all the way: the input alone shows"
    section.locator(".compare-slider").fill("50")
    assert uncovered(before) == 0.5, "half way: the input on the left half"
    assert page.errors == []


def test_inpaint_a_photo_at_its_own_size(page):
    """A 200x150 photo on a 32-px model: the board shows all of it (4:3, 32x24 layers), the mask drawn
    there goes out scaled up to 200x150 (nearest-neighbour: whole blocks), and the result has the
    photo's size with every pixel outside the hole the photo's own."""
    section = open_mode(page, "inpaint")
    bodies = capture_bodies(page, "inpaint")
    data = upload_photo(section, 200, 150)
    section.locator(".stage-hint").wait_for(state="hidden")
    info = board_info(page, "inpaint")
    assert (info["width"], info["height"]) == (32, 24), info
    box = section.locator("canvas").bounding_box()
    assert abs(box["width"] / box["height"] - 4 / 3) < 0.02, f"the board shows the whole photo: {box}"
    draw(page, section.locator("canvas"), [(0.3, 0.3), (0.6, 0.6)])
    with page.expect_response("**/api/tasks/inpaint") as started:
        section.locator("[data-action=go]").click()
    img = wait_done(section).first
    assert base64.b64decode(bodies[0]["image"].split(",", 1)[1]) == data, "the photo itself went out"
    mask = decode(bodies[0]["mask"]).convert("LA")
    assert mask.size == (200, 150)
    alpha = np.asarray(mask.split()[1])
    drawn = page.evaluate("""async () => {
        const { board } = (await import('/js/modes/index.js')).modeById('inpaint');
        return Array.from(board.mctx.getImageData(0, 0, board.width, board.height).data.filter((_, i) => i % 4 === 3));
    }""")
    drawn = np.asarray(drawn, dtype=np.uint8).reshape(24, 32)
    rows, cols = (np.arange(150) * 24 // 150), (np.arange(200) * 32 // 200)
    near = drawn[rows][:, cols]  # the drawn mask, nearest-neighbour at 200x150
    assert np.mean(np.abs(alpha.astype(int) - near.astype(int)) <= 1) > 0.97, "the drawn region, scaled up"
    assert img.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [200, 150]
    result = rgb(job_images(page, started.value.json()["id"])[0])
    photo = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)
    outside = alpha == 0
    assert outside.mean() > 0.5 and (result[outside] == photo[outside]).all(), "outside the hole: the photo, bit for bit"
    assert (result[alpha == 255] != photo[alpha == 255]).any(), "the hole was filled in"
    assert page.errors == []


def test_a_photo_past_the_servers_limit_is_shrunk_on_a_board(page):
    section = open_mode(page, "paint")
    bodies = capture_bodies(page, "paint")
    upload_photo(section, 400, 300)   # a 32-px model's results are at most 256 px a side
    expect(section.locator(".fit-hint")).to_have_text(
        "This photo is 400 × 300 px: it is shrunk to 256 × 192 in the browser "
        "(this server's results for this model are at most 256 px a side).")
    section.locator(".feature").nth(1).click()
    draw(page, section.locator("canvas"), [(0.2, 0.2), (0.6, 0.6)])
    section.locator("[data-action=go]").click()
    assert wait_done(section).first.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [256, 192]
    assert decode(bodies[0]["image"]).size == decode(bodies[0]["mask"]).size == (256, 192)
    expect(section.locator(".fit-hint")).to_be_hidden()   # the result on the board fits as it is
    assert page.errors == []


def test_a_turned_phone_photo_goes_out_as_it_is_shown(page):
    """A JPEG whose EXIF says "turn 90°" (as phones save portraits): the browser shows it upright, so
    it goes out redrawn upright (a PNG), and the mask drawn over it fits it."""
    x = np.linspace(0, 255, 200, dtype=np.uint8)
    img = Image.fromarray(np.stack([np.tile(x, (150, 1))] * 3, axis=2))   # stored 200x150
    exif = Image.Exif()
    exif[0x0112] = 6   # orientation: rotate 90° clockwise to show
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    section = open_mode(page, "inpaint")
    bodies = capture_bodies(page, "inpaint")
    section.locator("input[type=file]").set_input_files({"name": "portrait.jpg", "mimeType": "image/jpeg", "buffer": buf.getvalue()})
    section.locator(".stage-hint").wait_for(state="hidden")
    assert (board_info(page, "inpaint")["width"], board_info(page, "inpaint")["height"]) == (24, 32)
    draw(page, section.locator("canvas"), [(0.3, 0.3), (0.6, 0.6)])
    section.locator("[data-action=go]").click()
    assert wait_done(section).first.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [150, 200]
    assert bodies[0]["image"].startswith("data:image/png;")
    assert decode(bodies[0]["image"]).size == decode(bodies[0]["mask"]).size == (150, 200)
    assert page.errors == []


def test_a_tall_result_fits_the_window(page):
    section = open_mode(page, "translate")
    upload_photo(section, 100, 250)   # 250 px on a 32-px model: within its 8 x 32 px results
    section.get_by_role("button", name="Translate", exact=True).click()
    img = wait_done(section).first
    assert img.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [100, 250]
    img.scroll_into_view_if_needed()
    fits, boxes = within_window(page, img)
    assert fits, f"a tall result is scaled down to fit the window: {boxes}"
    assert page.errors == []


def test_a_photo_past_the_servers_limit_is_shrunk_in_the_browser(page):
    section = open_mode(page, "translate")
    bodies = capture_bodies(page, "translate")
    upload_photo(section, 400, 300)   # a 32-px model's results are at most 8 x 32 = 256 px a side
    expect(section.locator(".source-view .true-size")).to_have_text("400 × 300 px")
    expect(section.locator(".source-view .fit-hint")).to_have_text(
        "This photo is 400 × 300 px: it is shrunk to 256 × 192 in the browser "
        "(this server's results for this model are at most 256 px a side).")
    section.get_by_role("button", name="Translate", exact=True).click()
    assert wait_done(section).first.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [256, 192]
    assert decode(bodies[0]["image"]).size == (256, 192)
    # super-resolution: the result (4 x the photo) must fit too, so the photo is shrunk further
    section = open_mode(page, "superresolve")
    bodies = capture_bodies(page, "superresolve")
    upload_photo(section, 100, 50)
    expect(section.locator(".source-view .fit-hint")).to_contain_text("shrunk to 64 × 32 in the browser (so that 4× stays within 256 px")
    section.locator("select[name=factor]").select_option("2")
    expect(section.locator(".source-view .fit-hint")).to_be_hidden()   # 2 x 100 px fits
    section.get_by_role("button", name="Upscale", exact=True).click()
    assert wait_done(section).first.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [200, 100]
    assert decode(bodies[0]["image"]).size == (100, 50)
    assert page.errors == []


def test_progress_falls_back_to_polling(page):
    page.route("**/api/jobs/*/events", lambda route: route.abort())
    section = open_mode(page, "generate")
    section.locator("input[name=n]").fill("1")
    with page.expect_response("**/api/tasks/generate") as started:
        section.locator("[data-action=go]").click()
    assert wait_done(section).count() == 1
    assert shown_images(section) == job_images(page, started.value.json()["id"]), "the polled result is shown"


def test_phone_width_has_no_horizontal_scroll(site):
    context = site["browser"].new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                          is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    page.goto(f"{site['url']}/#sketch")
    page.wait_for_selector("#model option", state="attached")
    for mode in ("sketch", "paint", "inpaint", "generate"):
        page.goto(f"{site['url']}/#{mode}")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{mode} scrolls sideways by {overflow}px at phone width"
    # the canvas backing store follows devicePixelRatio
    page.goto(f"{site['url']}/#sketch")
    ratio = page.evaluate("() => { const c = document.querySelector('#mode-sketch canvas'); return c.width / c.clientWidth; }")
    assert abs(ratio - 2) < 0.05
    context.close()


def test_touch_fill_and_model_resolution(page):
    section = open_mode(page, "sketch")
    bodies = capture_bodies(page, "sketch")
    section.locator("[data-tool=fill]").click()
    section.locator(".swatch").nth(10).click()  # blue
    canvas = section.locator("canvas")
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + 10, box["y"] + 10)
    page.keyboard.press("b")
    assert section.locator("[data-tool=pen]").get_attribute("aria-pressed") == "true"
    section.locator(".swatch").nth(4).click()  # red
    for _ in range(3):
        page.keyboard.press("]")  # 4 px: the stroke covers whole pixels at 16 and 32 px
    # a finger stroke (pointer events with pointerType touch)
    canvas.evaluate("""c => {
        const r = c.getBoundingClientRect();
        const ev = (type, f) => c.dispatchEvent(new PointerEvent(type, {pointerId: 7, pointerType: 'touch',
            isPrimary: true, button: 0, buttons: 1, bubbles: true, clientX: r.left + f * r.width, clientY: r.top + r.height / 2}));
        ev('pointerdown', 0.2); ev('pointermove', 0.5); ev('pointermove', 0.8); ev('pointerup', 0.8);
    }""")
    assert page.evaluate("() => document.activeElement.tagName") != "INPUT"
    options = page.locator("#model option")
    sizes = {}
    for i in range(options.count()):
        page.locator("#model").select_option(index=i)
        section.locator("[data-action=go]").click()
        wait_done(section)
        n = int(page.locator("#model-info").inner_text().split("px")[0].split()[-1])
        sent = decode(bodies[-1]["image"]).convert("RGB")
        assert sent.size == (n, n), "the sketch goes out at the chosen model's input size"
        sizes[bodies[-1].get("model")] = n
        corner = sent.getpixel((0, 0))
        assert corner[2] > 180 and corner[0] < 120, f"the fill is blue, got {corner}"
        middle = sent.getpixel((n // 2, n // 2))
        assert middle[0] > 150 and middle[2] < 120, f"the red touch stroke arrived, got {middle}"
    assert page.errors == []


def test_drag_a_gallery_image_onto_a_canvas(page):
    section = open_mode(page, "generate")
    section.locator("input[name=n]").fill("2")
    with page.expect_response("**/api/tasks/generate") as started:
        section.locator("[data-action=go]").click()
    wait_done(section)
    returned = job_images(page, started.value.json()["id"])
    page.click("#tab-inpaint")
    inpaint = page.locator("#mode-inpaint")
    expect(inpaint.locator(".stage-hint")).to_be_visible()
    dragged = page.locator("#gallery .thumb img").first
    source = dragged.get_attribute("src")
    assert source in returned, "the gallery holds the server's results"
    dragged.drag_to(inpaint.locator(".stage"))
    inpaint.locator(".stage-hint").wait_for(state="hidden")
    assert_board_holds(page, "inpaint", source, others=returned)   # the dragged image, not its neighbour
    assert page.errors == []


# ---- the task registry and recipes: settings from GET /api/tasks, results that reproduce themselves -----

MODES = ("sketch", "paint", "inpaint", "superresolve", "translate", "generate")


def registry(page):
    return {t["id"]: t for t in page.request.get(f"{page.base}/api/tasks").json()}


def card(page, model_id=None):
    cards = page.request.get(f"{page.base}/api/models").json()
    return next(c for c in cards if c["id"] == model_id or (model_id is None and c["default"]))


def js_number(value):
    """A number as the page writes it (String(Number(x.toPrecision(6))))."""
    return f"{value:.6g}"


def advanced_inputs(section):
    """Each setting's control: a number input's placeholder, or a select's first option (its default)."""
    return section.locator("details.advanced input, details.advanced select").evaluate_all(
        "els => els.map((e) => ({name: e.name, title: e.title, min: e.min, step: e.step, "
        "placeholder: e.tagName === 'SELECT' ? e.options[0].textContent : e.placeholder, "
        "choices: e.tagName === 'SELECT' ? [...e.options].slice(1).map((o) => o.value) : null}))")


def test_advanced_settings_agree_with_the_task_registry(page):
    """The canvas's settings are the library's: each mode shows its task's setting fields (and the
    seed) from /api/tasks, with the model card's effective defaults as placeholders."""
    tasks, defaults = registry(page), card(page)["task_defaults"]
    open_mode(page, "sketch")
    for mode in MODES:
        page.click(f"#tab-{mode}")
        section = page.locator(f"#mode-{mode}")
        settings = [f for f in tasks[mode]["fields"] if f["setting"]]
        seed = next(f for f in tasks[mode]["fields"] if f["name"] == "seed")
        shown = {i["name"]: i for i in advanced_inputs(section)}
        expected = [f["name"] for f in settings] + ([] if mode == "generate" else ["seed"])
        assert list(shown) == expected, mode
        scale = 4 if mode == "superresolve" else 1  # no picture yet: a full-size one, at the default 4x
        for f in (*settings, *([seed] if mode != "generate" else [])):
            value = defaults[mode][f["name"]] if f["setting"] else f["default"]
            assert shown[f["name"]]["title"] == f["help"]
            if f["kind"] == "choice":
                assert shown[f["name"]]["placeholder"] == value, (mode, f["name"])
                assert shown[f["name"]]["choices"] == f["choices"]
                continue
            value *= scale if f["name"] in tasks[mode]["scaled"] else 1
            assert shown[f["name"]]["placeholder"] == js_number(value), (mode, f["name"])
            assert float(shown[f["name"]]["min"]) == f["minimum"]
            assert shown[f["name"]]["step"] == ("1" if f["kind"] == "int" else "any")
        section.locator("details.advanced summary").click()
        assert section.locator("details.advanced .hint", has_text=settings[0]["help"]).count() == 1
    expect(page.locator("#mode-generate input[name=seed]")).to_have_count(1)  # its seed is a main control
    # another model: its card's defaults
    pick_model(page, PHOTO)
    other = card(page, PHOTO)["task_defaults"]["inpaint"]
    shown = {i["name"]: i["placeholder"] for i in advanced_inputs(page.locator("#mode-inpaint"))}
    assert shown["penalty_weight"] == js_number(other["penalty_weight"]) and shown["steps"] == js_number(other["steps"])
    assert page.errors == []


def test_superresolve_defaults_scale_with_the_result(page):
    section = open_mode(page, "superresolve")
    base, scaled = card(page)["task_defaults"]["superresolve"], registry(page)["superresolve"]["scaled"]
    assert set(scaled) == {"step_size", "eps"}

    def expect_scale(k):
        for name in scaled:
            expect(section.locator(f"details.advanced input[name={name}]")).to_have_attribute(
                "placeholder", js_number(base[name] * k))
        expect(section.locator("details.advanced input[name=steps]")).to_have_attribute("placeholder", js_number(base["steps"]))
    expect_scale(4)
    upload_png(section, size=16)  # 16 px x 4 on a 32-px model
    expect_scale(2)
    section.locator("select[name=factor]").select_option("8")
    expect_scale(4)
    assert page.errors == []


def test_a_setting_the_server_refuses_is_marked(page):
    section = open_mode(page, "inpaint")
    drop_png(page, section.locator(".stage"), color=(40, 160, 90))
    section.locator(".stage-hint").wait_for(state="hidden")
    draw(page, section.locator("canvas"), [(0.3, 0.3), (0.6, 0.5)])
    set_advanced(section, penalty_weight=-1)
    section.locator("[data-action=go]").click()
    expect(section.locator(".error")).to_contain_text("penalty_weight")
    expect(section.locator("input[name=penalty_weight]")).to_have_attribute("aria-invalid", "true")
    expect(section.locator("input[name=steps]")).not_to_have_attribute("aria-invalid", "true")


def pixels(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def made_in_sketch(page):
    """A sketch result with non-default settings, downloaded: (file name, the PNG's bytes)."""
    section = open_mode(page, "sketch")
    draw(page, section.locator("canvas"), [(0.2, 0.2), (0.8, 0.3), (0.5, 0.8)])
    set_advanced(section, steps=3, seed=7, eps=2.5)
    section.locator("[data-action=go]").click()
    wait_done(section)
    settings = card(page)["task_defaults"]["sketch"]
    expect(section.locator(".made-with")).to_have_text(
        f"Made with tiny · seed 7 · steps 3 · step size {js_number(settings['step_size'])} · eps 2.5"
        f" · rule {settings['rule']} · patience {settings['patience']} · blend {js_number(settings['blend'])}"
        f" · basis {settings['basis']} · noise {js_number(settings['noise'])} · jitter {js_number(settings['jitter'])}"
        f" · flip {settings['flip']} · bn prior {js_number(settings['bn_prior'])}")
    link = section.locator(".result-actions a[download]")
    with page.expect_download() as download:
        link.click()
    data = open(download.value.path(), "rb").read()
    assert data == base64.b64decode(link.get_attribute("href").split(",", 1)[1]), "the server's PNG, byte for byte"
    return download.value.suggested_filename, data


def test_a_downloaded_result_reruns_to_the_same_pixels(page):
    name, data = made_in_sketch(page)
    assert name == "robust-canvas-sketch-1.png"
    job = page.request.post(f"{page.base}/api/rerun?wait=true", data={"png": base64.b64encode(data).decode()}).json()
    assert job["status"] == "done" and job["task"] == "sketch"
    assert job["recipe"]["seed"] == 7 and job["recipe"]["settings"]["steps"] == 3 and job["recipe"]["settings"]["eps"] == 2.5
    assert np.array_equal(pixels(base64.b64decode(job["result"]["images"][0].split(",", 1)[1])), pixels(data))


def reload_in(page, mode):
    """The mode on a freshly loaded page (a new hash alone keeps the page and its results)."""
    section = open_mode(page, mode)
    page.reload()
    page.wait_for_selector("#model option", state="attached")
    return section


def test_dropping_a_result_reproduces_it_in_its_mode(page):
    name, data = made_in_sketch(page)
    reruns = []
    page.on("request", lambda r: r.url.endswith("/api/rerun") and reruns.append(r))
    # dropped on another mode's image target: the sketch mode reproduces it
    translate = reload_in(page, "translate")
    drop_png(page, translate.locator(".source-view"), data=data, name=name)
    expect(page.locator("#mode-sketch")).to_be_visible()
    assert page.url.endswith("#sketch")
    section = page.locator("#mode-sketch")
    expect(section.locator(".result-note")).to_have_text(f"Reproduced from {name}")
    img = wait_done(section).first
    assert np.array_equal(pixels(base64.b64decode(img.get_attribute("src").split(",", 1)[1])), pixels(data))
    expect(section.locator(".made-with")).to_contain_text("seed 7 · steps 3")
    expect(translate.locator(".source-view img")).to_be_hidden()  # reproduced, not loaded as a picture
    # dropped where no image goes (generate), and a plain picture still loads where one goes
    generate = reload_in(page, "generate")
    drop_png(page, generate, data=data, name=name)
    expect(page.locator("#mode-sketch .result-note")).to_have_text(f"Reproduced from {name}")
    wait_done(page.locator("#mode-sketch"))
    # the header's "Rerun a PNG…" button, from any mode
    reload_in(page, "paint")
    page.locator(".rerun-picker input[type=file]").set_input_files({"name": name, "mimeType": "image/png", "buffer": data})
    expect(page.locator("#mode-sketch .result-note")).to_have_text(f"Reproduced from {name}")
    wait_done(page.locator("#mode-sketch"))
    assert len(reruns) == 3
    generate = open_mode(page, "generate")
    drop_png(page, generate)
    expect(page.locator("#banner")).to_contain_text("dropped.png has no robust-canvas recipe")
    translate = open_mode(page, "translate")
    drop_png(page, translate.locator(".source-view"))
    expect(translate.locator(".source-view img")).to_be_visible()
    assert len(reruns) == 3, "a picture without a recipe never goes to /api/rerun"
    assert page.errors == []


def test_a_recipe_the_server_cannot_run_falls_back_to_a_picture(page):
    from server.synthesis.recipes import Recipe, png_bytes as recipe_png
    foreign = recipe_png(torch.rand(3, 24, 24), Recipe(task="translate", model="elsewhere", card="0" * 16, seed=0,
                                                       settings={}, inputs={}))
    section = open_mode(page, "translate")
    drop_png(page, section.locator(".source-view"), data=foreign, name="foreign.png")
    expect(section.locator(".error")).to_contain_text("Could not reproduce foreign.png (the image was made by")
    expect(section.locator(".error")).to_contain_text("it is used as a picture instead")
    expect(section.locator(".source-view img")).to_be_visible()
    assert len(page.errors) == 1 and "422" in page.errors[0]  # the browser logs the refused request


# ---- models of other sizes: the 128-px photo model's size, and the undo history's byte bound ------

PHOTO = "tiny-128px"  # the harness's 128-px model: the size of the shipped photo model


def pick_model(page, model_id):
    page.locator("#model").select_option(model_id)
    expect(page.locator("#model-info")).to_contain_text(f"{model_input_size(page, model_id)}px")


def model_input_size(page, model_id):
    cards = page.request.get(f"{page.base}/api/models").json()
    return next(c["input_size"] for c in cards if c["id"] == model_id)


def board_info(page, mode):
    """The mode's board, seen from inside: drawing resolution, brush and history."""
    return page.evaluate("""async (mode) => {
        const { board } = (await import('/js/modes/index.js')).modeById(mode);
        return { width: board.image.width, height: board.image.height, mask: board.mask.width,
                 size: board.tool.size, limits: board.brushLimits(), undo: board.history.undoStack.length };
    }""", mode)


def shown(img):
    """How an <img> is displayed: CSS width and scaling (image-rendering)."""
    return img.evaluate("i => ({ width: i.clientWidth, natural: i.naturalWidth, rendering: getComputedStyle(i).imageRendering })")


def test_128px_model_board_brushes_and_results(page):
    section = open_mode(page, "sketch")
    bodies = capture_bodies(page, "sketch")
    assert board_info(page, "sketch")["size"] == 2.5  # the 32-px default model
    pick_model(page, PHOTO)
    n = model_input_size(page, PHOTO)
    info = board_info(page, "sketch")
    assert (info["width"], info["height"], info["mask"]) == (n, n, n), "the board draws at the model's input size"
    # brush presets scale with the picture: the same share of it as on a 32-px model
    assert info["size"] == 2.5 * n / 32 and info["limits"] == {"min": 0.5 * n / 32, "max": 12 * n / 32, "step": 0.5 * n / 32}
    expect(section.locator(".size-out")).to_have_text(f"{2.5 * n / 32:g} px")
    page.keyboard.press("]")
    expect(section.locator(".size-out")).to_have_text(f"{3 * n / 32:g} px")
    assert section.locator("input[type=range]").evaluate("r => [r.min, r.max, r.step].map(Number)") == [n / 64, 12 * n / 32, n / 64]
    canvas = section.locator("canvas")
    section.locator("[data-tool=fill]").click()
    section.locator(".swatch").nth(10).click()  # blue
    canvas.click(position={"x": 5, "y": 5})
    section.locator("[data-tool=pen]").click()
    section.locator(".swatch").nth(4).click()  # red
    draw(page, canvas, [(0.1, 0.5), (0.9, 0.5)])
    section.locator("[data-tool=eraser]").click()
    draw(page, canvas, [(0.5, 0.1), (0.5, 0.9)])  # back to white across the stroke
    section.locator("[data-action=go]").click()
    img = wait_done(section).first
    sent = decode(bodies[-1]["image"]).convert("RGB")
    assert sent.size == (n, n) and bodies[-1]["model"] == PHOTO
    assert sent.getpixel((2, 2))[2] > 180, "the fill covers the picture"
    assert sent.getpixel((n // 4, n // 2))[0] > 180 and sent.getpixel((n // 4, n // 2))[2] < 100, "the red stroke"
    assert min(sent.getpixel((n // 2, n // 2))) > 200, "the eraser paints the background"
    view = shown(img)
    assert view["natural"] == n and view["width"] >= 256, f"a 128-px result is shown at a comfortable size: {view}"
    assert view["rendering"] == "auto", "photos are scaled smoothly, not as blocks"
    expect(section.locator(".result .true-size")).to_contain_text(f"{n} × {n} px")
    assert page.errors == []


def test_tiny_models_stay_pixel_crisp(page):
    section = open_mode(page, "sketch")
    draw(page, section.locator("canvas"), [(0.2, 0.2), (0.8, 0.8)])
    section.locator("[data-action=go]").click()
    view = shown(wait_done(section).first)
    assert view["natural"] == 32 and view["width"] >= 256
    assert view["rendering"] in ("pixelated", "crisp-edges"), "a 32-px result is shown pixel-crisp"
    assert board_info(page, "sketch")["width"] == 32


def test_a_brush_covers_the_same_share_at_32_and_128_px(page):
    open_mode(page, "sketch")
    canvas = page.locator("#mode-sketch canvas")

    def coverage():
        draw(page, canvas, [(0.1, 0.5), (0.9, 0.5)])
        url = page.evaluate("async () => (await import('/js/modes/index.js')).modeById('sketch').board.imageDataURL()")
        ink = np.asarray(decode(url).convert("L"), dtype=np.float64) < 128
        page.locator("#mode-sketch").get_by_role("button", name="Clear").click()
        return ink.mean()
    at32 = coverage()
    pick_model(page, PHOTO)
    at128 = coverage()
    assert at32 > 0.03 and abs(at128 - at32) / at32 < 0.25, (at32, at128)


def test_every_mode_at_128px(page):
    section = open_mode(page, "generate")
    pick_model(page, PHOTO)
    section.locator("input[name=n]").fill("2")
    with page.expect_response("**/api/tasks/generate") as started:
        section.locator("[data-action=go]").click()
    assert [shown(img)["natural"] for img in wait_done(section).all()] == [128, 128]
    generated = job_images(page, started.value.json()["id"])
    assert shown_images(section) == generated
    section.locator(".result-actions [data-open=inpaint]").click()   # the first image is selected
    section = page.locator("#mode-inpaint")
    section.locator(".stage-hint").wait_for(state="hidden")
    assert_board_holds(page, "inpaint", generated[0], others=generated)   # the generated image is on the board
    bodies = capture_bodies(page, "inpaint")
    draw(page, section.locator("canvas"), [(0.3, 0.3), (0.6, 0.6)])
    with page.expect_response("**/api/tasks/inpaint") as started:
        section.locator("[data-action=go]").click()
    assert shown(wait_done(section).first)["width"] >= 256
    assert shown_images(section) == job_images(page, started.value.json()["id"])
    assert decode(bodies[0]["image"]).size == decode(bodies[0]["mask"]).size == (128, 128)
    assert np.abs(rgb(bodies[0]["image"]) - rgb(generated[0])).max() <= 1, "the board's picture went out"
    # paint: palette, region, apply; the result lands on the 128-px board
    section = open_mode(page, "paint")
    bodies = capture_bodies(page, "paint")
    upload_png(section, color=(90, 140, 200), size=224)
    section.locator(".feature").nth(2).click()
    draw(page, section.locator("canvas"), [(0.2, 0.2), (0.7, 0.5)])
    section.locator("[data-action=go]").click()
    assert shown(wait_done(section).first)["natural"] == 224, "the photo's own size comes back"
    assert board_info(page, "paint")["width"] == 128, "the board draws at the model's size"
    assert decode(bodies[0]["image"]).size == decode(bodies[0]["mask"]).size == (224, 224)
    expect(section.get_by_role("button", name="Undo")).to_be_enabled()
    # super-resolution: 32 px x 4 = the model's 128 px, shown smoothly at a comfortable size
    section = open_mode(page, "superresolve")
    upload_png(section, size=32)
    expect(section.locator(".source-view img")).to_have_class("pixelated")  # a tiny source stays crisp
    section.get_by_role("button", name="Upscale", exact=True).click()
    view = shown(wait_done(section).first)
    assert view["natural"] == 128 and view["width"] >= 256 and view["rendering"] == "auto"
    # translation: a photo goes at its own size (within 8 x 128 px), and comes back at it
    section = open_mode(page, "translate")
    bodies = capture_bodies(page, "translate")
    upload_png(section, size=300)
    expect(section.locator(".source-view .true-size")).to_have_text("300 × 300 px")
    section.get_by_role("button", name="Translate", exact=True).click()
    view = shown(wait_done(section).first)
    assert view["width"] >= 256 and view["natural"] == 300
    assert decode(bodies[0]["image"]).size == (300, 300)
    assert page.errors == []


def test_undo_history_stays_within_its_byte_budget(page):
    """However large the model, the boards' undo history holds at most HISTORY_BYTES of ImageData:
    the bigger the pictures, the fewer steps are kept."""
    open_mode(page, "sketch")
    pick_model(page, PHOTO)
    result = page.evaluate("""async () => {
        const { board } = (await import('/js/modes/index.js')).modeById('sketch');
        const { HISTORY_BYTES, historyBytes } = await import('/js/history.js');
        const steps = (n) => { for (let i = 0; i < n; i += 1) board.snapshot(); return board.history.undoStack.length; };
        const perStep = 2 * 4 * board.inputSize ** 2;  // picture and mask, RGBA
        const kept = steps(Math.ceil(HISTORY_BYTES / perStep) + 50);
        const afterPushes = historyBytes();
        while (board.undo()) {}                        // everything onto the redo stack
        board.snapshot();                              // a new edit forgets it
        return { budget: HISTORY_BYTES, perStep, kept, afterPushes, afterUndo: historyBytes(),
                 undo: board.history.undoStack.length, redo: board.history.redoStack.length };
    }""")
    assert result["budget"] <= 64 * 1024 * 1024
    assert result["afterPushes"] <= result["budget"] and result["afterUndo"] <= result["budget"]
    assert result["kept"] == result["budget"] // result["perStep"], "the steps that fit are kept"
    assert (result["undo"], result["redo"]) == (1, 0)
    assert page.errors == []


def test_history_budget_is_shared_and_drops_the_oldest_steps(page):
    open_mode(page, "sketch")
    result = page.evaluate("""async () => {
        const { History, budget, historyBytes } = await import('/js/history.js');
        const state = (tag) => ({ tag, image: { data: new Uint8ClampedArray(1000) }, mask: { data: new Uint8ClampedArray(1000) } });
        const before = historyBytes();
        budget.bytes = before + 10 * 2000;               // room for ten more steps, all boards together
        const a = new History(), b = new History();
        for (let i = 0; i < 8; i += 1) a.push(state(`a${i}`));
        for (let i = 0; i < 6; i += 1) b.push(state(`b${i}`));
        const out = { total: historyBytes() - before, a: a.undoStack.map((s) => s.tag), b: b.undoStack.length };
        const back = a.undo(state('a-now'));               // undo: the current state moves to redo
        out.undone = back.tag;
        out.afterUndo = historyBytes() - before;
        return out;
    }""")
    assert result["total"] <= 10 * 2000 and result["afterUndo"] <= 10 * 2000
    assert result["a"] == ["a4", "a5", "a6", "a7"] and result["b"] == 6, "the oldest steps of any board went first"
    assert result["undone"] == "a7"


def test_strokes_past_the_budget_drop_the_oldest_undo_steps(page):
    section = open_mode(page, "sketch")
    pick_model(page, PHOTO)
    page.evaluate("""async () => {
        const { board } = (await import('/js/modes/index.js')).modeById('sketch');
        const { budget, historyBytes } = await import('/js/history.js');
        budget.bytes = historyBytes() + 3 * 2 * 4 * board.inputSize ** 2;  // three more steps
    }""")
    canvas = section.locator("canvas")
    for i in range(5):
        draw(page, canvas, [(0.1, 0.1 + 0.18 * i), (0.9, 0.1 + 0.18 * i)])
    assert board_info(page, "sketch")["undo"] == 3
    undo = section.get_by_role("button", name="Undo")
    for _ in range(3):
        undo.click()
    expect(undo).to_be_disabled()
    url = page.evaluate("async () => (await import('/js/modes/index.js')).modeById('sketch').board.imageDataURL()")
    rows = np.asarray(decode(url).convert("L"))
    assert rows[int(0.1 * 128)].min() < 100 and rows[int(0.28 * 128)].min() < 100, "the two oldest strokes stay"
    assert rows[int(0.46 * 128)].min() > 200, "the third is undone"


def test_the_page_opens_on_the_servers_default_model_until_one_is_picked(page):
    open_mode(page, "sketch")
    page.evaluate("() => localStorage.setItem('robust-canvas-model', 'tiny-16px')")  # an old automatic save
    page.reload()
    page.wait_for_selector("#model option", state="attached")
    expect(page.locator("#model")).to_have_value("tiny")  # the server's default
    page.locator("#model").select_option(PHOTO)
    page.reload()
    page.wait_for_selector("#model option", state="attached")
    expect(page.locator("#model")).to_have_value(PHOTO)  # a model the user picked is kept
    assert board_info(page, "sketch")["width"] == 128


def test_fill_inside_an_outline_leaves_no_halo(page):
    """At the model's resolution a stroke's anti-aliased edge is a whole pixel: filling inside an
    outline recolours those edge pixels too, instead of leaving a ring of the old colour."""
    open_mode(page, "sketch")
    result = page.evaluate("""async () => {
        const { floodFill } = await import('/js/brushes/fill.js');
        const c = document.createElement('canvas');
        c.width = c.height = 128;
        const ctx = c.getContext('2d', { willReadFrequently: true });
        const paint = (fill, outline) => {
            ctx.fillStyle = '#38bdf8'; ctx.fillRect(0, 0, 128, 128);              // sky blue
            ctx.strokeStyle = outline; ctx.lineWidth = 6;
            ctx.beginPath(); ctx.arc(64.3, 63.7, 40, 0, 2 * Math.PI); ctx.stroke();  // an anti-aliased ring
            floodFill(ctx, 64, 64, fill);
            const d = ctx.getImageData(0, 0, 128, 128).data, blue = [];
            for (let y = 0; y < 128; y += 1) for (let x = 0; x < 128; x += 1) {
                if (Math.hypot(x + 0.5 - 64.3, y + 0.5 - 63.7) < 40) blue.push(d[(y * 128 + x) * 4 + 2]);
            }
            return Math.max(...blue);  // the most blue left inside the ring's centre line
        };
        return { same: paint([124, 63, 29], '#7c3f1d'), other: paint([156, 163, 175], '#7c3f1d') };
    }""")
    # without the edge blending a ring of blue-brown blends (blue up to ~220) stays; 10% of the way is fine
    assert result["same"] <= 29 + 0.1 * (248 - 29), f"a brown fill inside a brown ring left blue: {result}"
    assert result["other"] <= 175 + 0.1 * (248 - 175), f"a grey fill inside a brown ring left blue: {result}"


# ---- a photo board's picture, a locked board, and the header on a phone ----------------------------

@pytest.mark.parametrize("mode, refusal", [("inpaint", "Load an image first"), ("paint", "Load or make an image first")])
def test_undoing_a_load_leaves_nothing_to_send(page, mode, refusal):
    """Undo takes a loaded photo off the board: the mode then asks for a picture again, instead of
    sending the blank background under it."""
    section = open_mode(page, mode)
    bodies = capture_bodies(page, mode)
    upload_png(section, color=(40, 160, 90))
    section.locator(".stage-hint").wait_for(state="hidden")
    section.get_by_role("button", name="Undo").click()
    expect(section.locator(".stage-hint")).to_be_visible()
    draw(page, section.locator("canvas"), [(0.3, 0.3), (0.6, 0.6)])
    section.locator("[data-action=go]").click()
    expect(section.locator(".error")).to_contain_text(refusal)
    assert bodies == [], "nothing was sent"
    assert page.errors == []


def mask_alpha_at(page, mode, fx, fy):
    """How opaque the mode's brushed region is at a point given in fractions of the board."""
    return page.evaluate("""async ([mode, fx, fy]) => {
        const { board } = (await import('/js/modes/index.js')).modeById(mode);
        return board.mctx.getImageData(Math.floor(fx * board.width), Math.floor(fy * board.height), 1, 1).data[3];
    }""", [mode, fx, fy])


def test_paint_takes_no_strokes_while_a_feature_is_applied(page):
    """The result of "Apply" replaces the picture and its region: a stroke brushed meanwhile would be
    lost, so the board takes none until the job ends."""
    section = open_mode(page, "paint")
    upload_png(section, color=(90, 140, 200))
    section.locator(".feature").nth(2).click()
    canvas = section.locator("canvas")
    draw(page, canvas, [(0.1, 0.1), (0.4, 0.3)])
    held = []   # the request that starts the job, held until the stroke has been tried
    page.route("**/api/tasks/paint", lambda route: held.append(route))
    section.locator("[data-action=go]").click()
    expect(section.locator(".status")).to_have_text("Sending…")
    canvas.scroll_into_view_if_needed()   # the mouse acts only inside the window
    draw(page, canvas, [(0.6, 0.6), (0.9, 0.6)])
    assert mask_alpha_at(page, "paint", 0.75, 0.6) == 0, "a stroke landed while the job ran"
    expect(canvas).to_have_attribute("aria-disabled", "true")
    while not held:
        page.wait_for_timeout(50)
    held[0].continue_()
    wait_done(section)
    page.wait_for_function("async () => (await import('/js/modes/index.js')).modeById('paint').board.maskIsEmpty()")
    draw(page, canvas, [(0.6, 0.6), (0.9, 0.6)])   # the result has landed, its region cleared
    assert mask_alpha_at(page, "paint", 0.75, 0.6) > 0, "strokes land again once the job has ended"
    assert page.errors == []


def test_the_header_fits_a_phone(site):
    """At a phone's width (390 px) the whole header shows, with the shipped default model's long id
    in the model picker: nothing runs off the right edge."""
    context = site["browser"].new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()

    def long_id(route):  # the tiny default model, named like the shipped one
        response = route.fetch()
        cards = response.json()
        next(c for c in cards if c["default"])["id"] = "imagenette-rn18w75-l2"
        route.fulfill(response=response, body=json.dumps(cards))
    page.route("**/api/models", long_id)
    page.goto(f"{site['url']}/#sketch")
    expect(page.locator("#model")).to_have_value("imagenette-rn18w75-l2")
    page.locator(".settings summary").click()
    for selector in ("button.rerun", "#model", ".settings summary", ".settings-body", ".brand h1"):
        box = page.locator(selector).evaluate("e => e.getBoundingClientRect().toJSON()")   # in CSS px of the page
        assert box["left"] >= 0 and box["right"] <= 390, f"{selector} runs off the screen: {box}"
    context.close()
