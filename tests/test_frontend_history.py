"""The canvas's gallery reads the server's history (issue 21): the same results in any browser,
deletable; on a server without a store (--no-store) it keeps the results in localStorage as before."""
import pytest

from tests.frontend_harness import browser, serve
from tests.test_frontend import _require_browser, open_mode

try:
    from playwright.sync_api import expect
except ImportError:
    pass


@pytest.fixture(scope="module")
def browser_(tmp_path_factory):
    _require_browser()
    with browser() as b:
        yield b


def new_page(b, url):
    context = b.new_context(viewport={"width": 1280, "height": 900})   # a fresh browser: empty localStorage
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.base = url
    return context, page


def generate(page, n: int = 2):
    section = open_mode(page, "generate")
    section.locator("input[name=n]").fill(str(n))
    section.locator("[data-action=go]").click()
    return section


def test_the_gallery_is_the_server_s_history_in_every_browser(browser_, tmp_path):
    from tests.frontend_real import tiny_app
    with serve(tiny_app(preview_every=2, data_dir=tmp_path)) as url:
        context, page = new_page(browser_, url)
        generate(page, 2)
        expect(page.locator("#gallery .thumb")).to_have_count(2)
        assert page.evaluate("() => localStorage.getItem('robust-canvas-gallery')") is None, "the server keeps them"
        context.close()
        other, page = new_page(browser_, url)      # another browser: nothing in its localStorage
        page.goto(url)
        expect(page.locator("#gallery .thumb")).to_have_count(2)
        assert page.evaluate("() => localStorage.getItem('robust-canvas-gallery')") is None
        expect(page.locator("#gallery .gallery-head button")).to_have_text("Refresh")
        page.locator("#gallery .thumb").first.click()
        page.get_by_role("button", name="Delete from the server").click()
        expect(page.locator("#gallery .thumb")).to_have_count(1)
        page.reload()
        expect(page.locator("#gallery .thumb")).to_have_count(1)
        src = page.locator("#gallery .thumb img").first.get_attribute("src")
        assert src.startswith("data:image/png;base64,")   # usable as any result: drag, open in, rerun
        assert page.errors == []
        other.close()


def test_without_a_store_the_gallery_lives_in_local_storage(browser_, tmp_path):
    from tests.frontend_real import tiny_app
    with serve(tiny_app(preview_every=2, store=False, data_dir=tmp_path)) as url:
        context, page = new_page(browser_, url)
        generate(page, 1)
        expect(page.locator("#gallery .thumb")).to_have_count(1)
        expect(page.locator("#gallery .gallery-head button")).to_have_text("Clear gallery")
        page.reload()
        expect(page.locator("#gallery .thumb")).to_have_count(1)
        assert page.errors == []
        context.close()
