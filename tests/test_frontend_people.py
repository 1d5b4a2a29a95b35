"""The canvas on a server with people (issue 28): no URL it requests carries the long-lived token
(the event stream takes a one-job ticket), and its gallery shows only one's own results."""
import json

from server.client import Client
from tests.frontend_harness import serve
from tests.test_frontend_history import browser_, generate, new_page  # noqa: F401 -- browser_ is a fixture
from tests.test_people import add

try:
    from playwright.sync_api import expect
except ImportError:
    pass


def test_no_url_the_canvas_requests_carries_the_token(browser_, tmp_path):  # noqa: F811
    from tests.frontend_real import tiny_app
    ana, bo = add(tmp_path, "ana", "bo")
    with serve(tiny_app(preview_every=2, data_dir=tmp_path)) as url:
        with Client(url, token=bo) as other:
            other.run("generate", {"class": "cat", "steps": 2})       # bo's: not in ana's gallery
        context, page = new_page(browser_, url)
        context.add_init_script(f"localStorage.setItem('robust-canvas-token', {json.dumps(ana)})")
        urls, streams = [], []
        page.on("request", lambda r: urls.append(r.url))
        page.on("response", lambda r: "/events" in r.url and streams.append(r.status))
        generate(page, 1)
        expect(page.locator("#gallery .thumb")).to_have_count(1)
        assert any("/events?ticket=" in u for u in urls) and streams == [200]   # followed by its event stream
        assert not [u for u in urls if ana in u or "token=" in u]
        assert page.errors == []
        context.close()
