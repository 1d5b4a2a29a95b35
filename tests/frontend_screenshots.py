"""Write docs/screenshots/*.png: one screenshot per mode, plus the sketch mode at phone width.

    python -m tests.frontend_screenshots            # the real app on the trained default model
    python -m tests.frontend_screenshots --tiny     # the real app on tiny random models (noise images)
    python -m tests.frontend_screenshots --url http://127.0.0.1:8000   # a running server

Screenshots are palette-quantized PNGs so the committed set stays small.
"""
import argparse
import base64
import io
import json
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageStat

from tests.frontend_harness import browser, serve

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
PHOTOS = ROOT.parent / "shared" / "data" / "cifar10" / "test"  # real test images, when present


def sample_png(size: int = 96) -> bytes:
    """A small made-up photo: sky, grass, sun and a red car-ish block."""
    img = Image.new("RGB", (size, size), (120, 170, 230))
    d = ImageDraw.Draw(img)
    d.rectangle([0, size * 0.62, size, size], fill=(70, 140, 60))
    d.ellipse([size * 0.68, size * 0.08, size * 0.9, size * 0.3], fill=(250, 220, 90))
    d.rounded_rectangle([size * 0.18, size * 0.45, size * 0.72, size * 0.7], radius=size // 12, fill=(200, 40, 40))
    for cx in (0.3, 0.6):
        d.ellipse([size * (cx - 0.07), size * 0.64, size * (cx + 0.07), size * 0.78], fill=(30, 30, 30))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def draw(page, canvas, points):
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + points[0][0] * box["width"], box["y"] + points[0][1] * box["height"])
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=6)
    page.mouse.up()


def click_at(page, canvas, fx, fy):
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])


def photo(name: str) -> bytes:
    """A CIFAR-10 test image (e.g. 'horse/0003.jpg') when the data is here, else the made-up one."""
    path = PHOTOS / name
    return path.read_bytes() if path.is_file() else sample_png()


def upload(section, name: str, shrink_to: int | None = None):
    data = photo(name)
    if shrink_to:  # super-resolution's own setting: a small picture brought up to the model's size
        small = Image.open(io.BytesIO(data)).convert("RGB").resize((shrink_to, shrink_to), Image.BOX)
        buffer = io.BytesIO()
        small.save(buffer, "PNG")
        data, name = buffer.getvalue(), Path(name).stem + ".png"
    mime = "image/jpeg" if data[:2] == b"\xff\xd8" else "image/png"
    section.locator("input[type=file]").set_input_files({"name": Path(name).name, "mimeType": mime, "buffer": data})


def vivid_features(page, url: str, count: int) -> list[int]:
    """The features whose palette swatches vary most (many swatches of a model are flat grey)."""
    model = page.locator("#model").input_value()
    swatches = page.request.get(f"{url}/api/models/{model}/features").json()

    def contrast(item) -> float:
        img = Image.open(io.BytesIO(base64.b64decode(item["thumbnail"].split(",", 1)[1]))).convert("L")
        return ImageStat.Stat(img).stddev[0]
    return [item["index"] for item in sorted(swatches, key=contrast, reverse=True)[:count]]


def decode(url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def paint_visibly(page, section, url: str, candidates: list[int]) -> None:
    """Apply the first candidate feature that visibly changes the brushed region (a feature that
    is silent there changes nothing), undoing the silent tries, as a user would."""
    for k in candidates:
        section.locator(f".feature[data-feature='{k}']").click()
        with page.expect_response("**/api/tasks/paint") as started:
            section.locator("[data-action=go]").click()
        section.locator(".status", has_text="Done.").wait_for(timeout=300_000)
        job = page.request.get(f"{url}/api/jobs/{started.value.json()['id']}").json()
        before = decode(json.loads(started.value.request.post_data)["image"])
        change = ImageStat.Stat(ImageChops.difference(before, decode(job["result"]["images"][0]))).mean
        if sum(change) > 3:
            return
        page.keyboard.press("Control+z")  # the silent result landed on the canvas: take it back


def go_and_wait(section):
    section.locator("[data-action=go]").click()
    section.locator(".status", has_text="Done.").wait_for(timeout=300_000)


def sketch_horse(page, section):
    canvas = section.locator("canvas")
    swatch = lambda i: section.locator(".swatch").nth(i).click()  # noqa: E731
    section.locator("[data-tool=fill]").click()
    swatch(9)                      # sky blue
    click_at(page, canvas, 0.5, 0.2)
    section.locator("[data-tool=pen]").click()
    swatch(7)                      # green ground
    page.keyboard.press("]"); page.keyboard.press("]"); page.keyboard.press("]")
    for y in (0.82, 0.9, 0.97, 1.0):
        draw(page, canvas, [(0.0, y), (1.0, y)])
    swatch(3)                      # brown body
    draw(page, canvas, [(0.3, 0.5), (0.65, 0.5)])
    draw(page, canvas, [(0.65, 0.48), (0.75, 0.3)])
    page.keyboard.press("["); page.keyboard.press("[")
    for x in (0.33, 0.42, 0.55, 0.63):
        draw(page, canvas, [(x, 0.55), (x, 0.8)])


def shoot(page, name, full=False):
    page.mouse.move(1, 1)  # no brush outline in the picture
    if full:
        page.evaluate("window.scrollTo(0, 0)")
    png = page.screenshot(full_page=full)
    img = Image.open(io.BytesIO(png)).convert("RGB")
    img = img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    OUT.mkdir(parents=True, exist_ok=True)
    img.save(OUT / f"{name}.png", optimize=True)
    print(f"wrote {OUT / name}.png ({(OUT / f'{name}.png').stat().st_size // 1024} KiB)")


def take_all(url: str):
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(300_000)
        errors = []  # a screenshot run is also a smoke test on the real model
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))

        def open_mode(mode):
            page.goto(f"{url}/#{mode}")
            page.wait_for_selector("#model option", state="attached")
            return page.locator(f"#mode-{mode}")

        s = open_mode("generate")
        s.locator("select[name=class]").select_option("horse")
        go_and_wait(s)
        s.locator(".result-body figure").nth(1).click()
        shoot(page, "generate")

        s = open_mode("sketch")
        sketch_horse(page, s)
        s.locator("select[name=class]").select_option("horse")
        go_and_wait(s)
        shoot(page, "sketch")

        s = open_mode("inpaint")
        upload(s, "automobile/0008.jpg")
        for y in (0.45, 0.55):
            draw(page, s.locator("canvas"), [(0.3, y), (0.65, y)])
        go_and_wait(s)
        shoot(page, "inpaint")

        s = open_mode("paint")
        upload(s, "horse/0006.jpg")
        candidates = vivid_features(page, url, 12)
        draw(page, s.locator("canvas"), [(0.1, 0.15), (0.5, 0.2)])
        paint_visibly(page, s, url, candidates)  # the result lands on the canvas; brush the next region
        s.locator(f".feature[data-feature='{candidates[-1]}']").click()
        draw(page, s.locator("canvas"), [(0.15, 0.85), (0.85, 0.9)])
        shoot(page, "paint")

        s = open_mode("superresolve")
        upload(s, "ship/0005.jpg", shrink_to=8)
        go_and_wait(s)
        shoot(page, "superresolve")

        s = open_mode("translate")
        upload(s, "automobile/0005.jpg")
        s.locator("select[name=class]").select_option("truck")
        go_and_wait(s)
        shoot(page, "translate")

        phone = b.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True, has_touch=True)
        phone.goto(f"{url}/#sketch")
        phone.wait_for_selector("#model option", state="attached")
        s = phone.locator("#mode-sketch")
        sketch_horse(phone, s)
        s.locator("select[name=class]").select_option("horse")
        go_and_wait(s)
        shoot(phone, "phone", full=True)
        if errors:
            raise SystemExit("the page logged errors:\n" + "\n".join(errors))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny random models instead of the trained default")
    ap.add_argument("--url", help="screenshot a server that is already running")
    args = ap.parse_args()
    if args.url:
        return take_all(args.url.rstrip("/"))
    from tests.frontend_real import tiny_app, trained_app
    app = tiny_app() if args.tiny else trained_app()
    if app is None:
        raise SystemExit("the trained default model is missing (models/); use --tiny for noise images")
    with serve(app) as url:
        take_all(url)


if __name__ == "__main__":
    main()
