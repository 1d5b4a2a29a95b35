"""Write docs/screenshots/*.png: one screenshot per mode, plus the sketch mode at phone width.

    python -m tests.frontend_screenshots            # the real app on the trained default model
    python -m tests.frontend_screenshots --tiny     # the real app on tiny random models (noise images)
    python -m tests.frontend_screenshots --url http://127.0.0.1:8000   # a running server
    python -m tests.frontend_screenshots --only sketch,paint           # some of them

What is drawn, uploaded and asked for follows the default model's dataset (SCENES): the 128-px
Imagenette photo model by default, CIFAR-10 for --tiny. Screenshots are palette-quantized (dithered) PNGs so
the committed set stays small.
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
DATA = ROOT.parent / "shared" / "data"  # real test images, when present: DATA/<dataset>/test/<class>/...


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
    canvas.scroll_into_view_if_needed()  # the mouse acts only inside the viewport (a phone's is short)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + points[0][0] * box["width"], box["y"] + points[0][1] * box["height"])
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=6)
    page.mouse.up()


def click_at(page, canvas, fx, fy):
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])


def photo(name: str) -> bytes:
    """A test image (e.g. 'cifar10/horse/0003.jpg') when the data is here, else the made-up one;
    'bench/photos/...': one of the repository's own photographs, at its own size."""
    if name.startswith("bench/"):
        return (ROOT / name).read_bytes()
    dataset, rest = name.split("/", 1)
    path = DATA / dataset / "test" / rest
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
    page.locator(".feature").first.wait_for(timeout=1_800_000)  # the first palette of a model takes minutes
    model = page.locator("#model").input_value()
    swatches = page.request.get(f"{url}/api/models/{model}/features", timeout=300_000).json()

    def contrast(item) -> float:
        img = Image.open(io.BytesIO(base64.b64decode(item["thumbnail"].split(",", 1)[1]))).convert("L")
        return ImageStat.Stat(img).stddev[0]
    return [item["index"] for item in sorted(swatches, key=contrast, reverse=True)[:count]]


def named_features(page, url: str, count: int, prefer=()) -> list[int]:
    """Classes' top named features, the `prefer`red classes' first; the vivid ones without names."""
    page.locator(".feature").first.wait_for(timeout=1_800_000)
    model = page.locator("#model").input_value()
    items = page.request.get(f"{url}/api/models/{model}/features", timeout=300_000).json()
    top = sorted((f for f in items if f.get("rank") == 1),
                 key=lambda f: prefer.index(f["group"]) if f["group"] in prefer else len(prefer))
    return [f["index"] for f in top][:count] if top else vivid_features(page, url, count)


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


class Pen:
    """The sketch board's tools, as a person uses them: swatches by index (widgets.SWATCHES),
    brush size by the [ and ] keys (steps that scale with the model's size), strokes in fractions
    of the canvas."""
    SKY, GREEN, GREY, BROWN = 9, 7, 2, 3

    def __init__(self, page, section):
        self.page, self.section, self.canvas = page, section, section.locator("canvas")

    def color(self, i):
        self.section.locator(".swatch").nth(i).click()

    def size(self, steps):
        for _ in range(abs(steps)):
            self.page.keyboard.press("]" if steps > 0 else "[")

    def fill(self, color, at):
        self.section.locator("[data-tool=fill]").click()
        self.color(color)
        click_at(self.page, self.canvas, *at)
        self.section.locator("[data-tool=pen]").click()

    def lines(self, *strokes):
        for stroke in strokes:
            draw(self.page, self.canvas, stroke)

    def shape(self, color, corners, inside):
        """A closed outline through `corners`, filled from the point `inside`."""
        self.color(color)
        self.lines([*corners, corners[0]])
        self.fill(color, inside)


def sketch_horse(page, section):
    pen = Pen(page, section)
    pen.fill(Pen.SKY, (0.5, 0.2))
    pen.color(Pen.GREEN)
    pen.size(3)
    pen.lines(*[[(0.0, y), (1.0, y)] for y in (0.82, 0.9, 0.97, 1.0)])
    pen.color(Pen.BROWN)  # body, neck, legs
    pen.lines([(0.3, 0.5), (0.65, 0.5)], [(0.65, 0.48), (0.75, 0.3)])
    pen.size(-2)
    pen.lines(*[[(x, 0.55), (x, 0.8)] for x in (0.33, 0.42, 0.55, 0.63)])


def sketch_church(page, section):
    pen = Pen(page, section)
    pen.fill(Pen.SKY, (0.5, 0.2))
    pen.size(-2)  # outlines, each filled in
    pen.shape(Pen.GREY, [(0.3, 0.48), (0.7, 0.48), (0.7, 0.82), (0.3, 0.82)], inside=(0.5, 0.6))  # the nave
    pen.shape(Pen.BROWN, [(0.2, 0.46), (0.5, 0.22), (0.8, 0.46)], inside=(0.5, 0.4))               # its roof
    pen.shape(Pen.BROWN, [(0.42, 0.17), (0.5, 0.05), (0.58, 0.17)], inside=(0.5, 0.13))            # the spire
    pen.color(Pen.GREY)
    pen.size(5)
    pen.lines([(0.5, 0.19), (0.5, 0.3)])  # the tower
    pen.color(Pen.GREEN)
    pen.size(6)
    pen.lines(*[[(0.0, y), (1.0, y)] for y in (0.88, 0.98)])
    pen.color(Pen.BROWN)
    pen.size(-8)
    pen.lines([(0.5, 0.7), (0.5, 0.8)])  # the door


# What each screenshot shows, per dataset of the default model.
SCENES = {
    "imagenette": {
        "generate": "church", "sketch": (sketch_church, "church"),
        # own photographs at their own size (640x427, 451x300): the results come back at it
        "inpaint": ("bench/photos/rocket.jpg", [(0.705, 0.3), (0.705, 0.86)]),
        "paint": ("imagenette/parachute/ILSVRC2012_val_00006561.JPEG", [(0.08, 0.55), (0.3, 0.75)], [(0.6, 0.75), (0.9, 0.9)]),
        "paint_classes": ("english_springer", "tench", "golf_ball"),   # their top named features, tried in turn
        "superresolve": ("imagenette/parachute/ILSVRC2012_val_00006561.JPEG", 32),
        "translate": ("bench/photos/chelsea.jpg", "english_springer"),
    },
    "cifar10": {
        "generate": "horse", "sketch": (sketch_horse, "horse"),
        "inpaint": ("cifar10/automobile/0008.jpg", [(0.3, 0.45), (0.65, 0.45)], [(0.3, 0.55), (0.65, 0.55)]),
        "paint": ("cifar10/horse/0006.jpg", [(0.1, 0.15), (0.5, 0.2)], [(0.15, 0.85), (0.85, 0.9)]),
        "paint_classes": ("bird", "frog", "ship"),
        "superresolve": ("cifar10/ship/0005.jpg", 8),
        "translate": ("cifar10/automobile/0005.jpg", "truck"),
    },
}


def shoot(page, name, full=False):
    page.mouse.move(1, 1)  # no brush outline in the picture
    if full:
        page.evaluate("window.scrollTo(0, 0)")
    png = page.screenshot(full_page=full)
    img = Image.open(io.BytesIO(png)).convert("RGB")
    palette = img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    img = img.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)  # photos: no banding in skies
    OUT.mkdir(parents=True, exist_ok=True)
    img.save(OUT / f"{name}.png", optimize=True)
    print(f"wrote {OUT / name}.png ({(OUT / f'{name}.png').stat().st_size // 1024} KiB)")


def default_dataset(page, url: str) -> str:
    cards = page.request.get(f"{url}/api/models").json()
    card = next((c for c in cards if c.get("default")), cards[0])
    return card["dataset"] if card["dataset"] in SCENES else "cifar10"


def shoot_generate(page, s, scene, url):
    s.locator("select[name=class]").select_option(scene["generate"])
    go_and_wait(s)
    s.locator(".result-body figure").nth(1).click()


def shoot_sketch(page, s, scene, url):
    sketch, cls = scene["sketch"]
    sketch(page, s)
    s.locator("select[name=class]").select_option(cls)
    go_and_wait(s)


def shoot_inpaint(page, s, scene, url):
    name, *strokes = scene["inpaint"]
    upload(s, name)
    for stroke in strokes:
        draw(page, s.locator("canvas"), stroke)
    go_and_wait(s)


def shoot_paint(page, s, scene, url):
    name, first, second = scene["paint"]
    upload(s, name)
    candidates = named_features(page, url, 12, scene.get("paint_classes", ()))
    draw(page, s.locator("canvas"), first)
    paint_visibly(page, s, url, candidates)  # the result lands on the canvas; brush the next region
    chosen = s.locator(f".feature[data-feature='{candidates[1]}']")
    chosen.click()
    draw(page, s.locator("canvas"), second)
    chosen.hover()  # its name and larger swatches in the preview


def shoot_superresolve(page, s, scene, url):
    name, side = scene["superresolve"]
    upload(s, name, shrink_to=side)
    go_and_wait(s)


def shoot_translate(page, s, scene, url):
    name, cls = scene["translate"]
    upload(s, name)
    s.locator("select[name=class]").select_option(cls)
    go_and_wait(s)
    s.locator(".compare-slider").fill("50")  # before / after: the photo on the left half


SHOTS = {"generate": shoot_generate, "sketch": shoot_sketch, "inpaint": shoot_inpaint, "paint": shoot_paint,
         "superresolve": shoot_superresolve, "translate": shoot_translate}


def new_page(b, errors, **options):
    page = b.new_page(**options)
    page.set_default_timeout(300_000)
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


def open_mode(page, url, mode):
    page.goto(f"{url}/#{mode}")
    page.wait_for_selector("#model option", state="attached")
    return page.locator(f"#mode-{mode}")


def take_all(url: str, only=None):
    errors = []  # a screenshot run is also a smoke test on the real model
    with browser() as b:
        page = new_page(b, errors, viewport={"width": 1280, "height": 1000})
        scene = SCENES[default_dataset(page, url)]
        for mode, shot in SHOTS.items():
            if not only or mode in only:
                shot(page, open_mode(page, url, mode), scene, url)
                shoot(page, mode)
        if not only or "phone" in only:
            phone = new_page(b, errors, viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True, has_touch=True)
            shoot_sketch(phone, open_mode(phone, url, "sketch"), scene, url)
            shoot(phone, "phone", full=True)
    if errors:
        raise SystemExit("the page logged errors:\n" + "\n".join(errors))


def main():
    global OUT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny random models instead of the trained default")
    ap.add_argument("--url", help="screenshot a server that is already running")
    ap.add_argument("--only", help=f"comma-separated: some of {', '.join([*SHOTS, 'phone'])}")
    ap.add_argument("--out", type=Path, default=OUT, help=f"where to write them (default {OUT.relative_to(ROOT)})")
    args = ap.parse_args()
    OUT = args.out
    only = set(args.only.split(",")) if args.only else None
    if args.url:
        return take_all(args.url.rstrip("/"), only)
    from tests.frontend_real import tiny_app, trained_app
    app = tiny_app() if args.tiny else trained_app()
    if app is None:
        raise SystemExit("the trained default model is missing (models/); use --tiny for noise images")
    with serve(app) as url:
        take_all(url, only)


if __name__ == "__main__":
    main()
