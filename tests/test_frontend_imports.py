"""The canvas's modules as a graph (no browser needed): no module imports itself through others,
and `js/api.js` is the only one that talks to the server."""
import re
from pathlib import Path

from tests.test_import_graph import find_cycles

JS = Path(__file__).resolve().parents[1] / "frontend" / "js"
# import x from './a.js'; import './a.js'; export { y } from './a.js'; import('./a.js')
IMPORT = re.compile(r"""(?:^\s*(?:import|export)\b[^'"]*?\bfrom\s*|^\s*import\s*|\bimport\(\s*)['"](\.{1,2}/[^'"]+)['"]""", re.M)
SERVER_CALLS = re.compile(r"\bfetch\(|\bEventSource\b|\bXMLHttpRequest\b|\bsendBeacon\(|\bWebSocket\b")


def modules() -> dict[str, Path]:
    return {path.relative_to(JS).as_posix(): path for path in sorted(JS.rglob("*.js"))}


def imports_of(path: Path) -> set[str]:
    """The modules `path` imports, as paths under js/."""
    return {(path.parent / target).resolve().relative_to(JS.resolve()).as_posix() for target in IMPORT.findall(path.read_text())}


def import_graph() -> dict[str, set[str]]:
    return {name: imports_of(path) for name, path in modules().items()}


def test_the_reader_sees_every_kind_of_import():
    graph = import_graph()
    assert "modes/sketch.js" in graph["modes/index.js"]            # import './sketch.js'
    assert "modes/registry.js" in graph["modes/index.js"]          # export { ... } from './registry.js'
    assert "board/board.js" in graph["board/photo-board.js"]       # import { Board } from './board.js'
    assert "api.js" in graph["main.js"]                            # import * as api from './api.js'
    assert all(target in graph for targets in graph.values() for target in targets), "an import of a missing file"


def test_no_canvas_module_imports_itself_through_others():
    assert find_cycles(import_graph()) == []


def test_only_api_js_talks_to_the_server():
    callers = {name for name, path in modules().items() if SERVER_CALLS.search(path.read_text())}
    assert callers == {"api.js"}
