"""`robust-canvas <task>` on files: outputs written, errors reported as `robust-canvas: error: ...`."""
import numpy as np
import pytest
from PIL import Image

from server.cli import main
from tests.model_support import random_seeds, save_model


@pytest.fixture
def files(tmp_path, tiny_model, monkeypatch):
    save_model(tiny_model, tmp_path / "models", seeds=random_seeds())
    monkeypatch.setenv("ROBUST_CANVAS_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("ROBUST_CANVAS_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    mask = np.zeros((40, 48), np.uint8)
    mask[10:30, 12:36] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    Image.fromarray(mask[:20]).save(tmp_path / "small-mask.png")
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "tiny.png")
    (tmp_path / "junk.png").write_text("not an image")
    return tmp_path


def _run(files, *argv):
    return main([argv[0], *argv[1:], "--model", "tiny", "--steps", "2"])


@pytest.mark.parametrize("argv,out,size", [
    (["generate", "cat", "-n", "2"], "g.png", None),
    (["translate", "{photo}", "dog"], "t.jpg", (48, 40)),
    (["inpaint", "{photo}", "{mask}", "--class", "ship"], "i.png", (48, 40)),
    (["superresolve", "{tiny}", "--factor", "4"], "s.png", (32, 32)),
    (["sketch", "{photo}", "3"], "k.png", (48, 40)),
    (["paint", "{photo}", "{mask}", "5", "--stroke", "{mask}", "6"], "p.png", (48, 40)),
])
def test_every_task_writes_its_result(files, argv, out, size, capsys):
    names = {"photo": files / "photo.png", "mask": files / "mask.png", "tiny": files / "tiny.png"}
    argv = [a.format(**names) for a in argv]
    assert _run(files, *argv, "--out", str(files / out)) == 0
    if argv[0] == "generate":
        assert (files / "g-0.png").exists() and (files / "g-1.png").exists()
    else:
        assert Image.open(files / out).size == size
    assert str(files) in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["generate", "unicorn"], "unknown class 'unicorn'"),
    (["translate", "{missing}", "dog"], "no such image file"),
    (["translate", "{junk}", "dog"], "not a readable image"),
    (["inpaint", "{photo}", "{small}"], "mask is 20x48 but the image is 40x48"),
    (["superresolve", "{tiny}", "--factor", "1"], "factor"),
    (["paint", "{photo}", "{mask}", "100000"], "unknown feature"),
    (["generate", "cat", "--out", "{dir}/x.gif"], "--out must end"),
    (["generate", "cat", "--out", "{junk}/x.png"], "junk.png"),  # a folder that cannot be made
])
def test_errors_are_reported_with_exit_code_2(files, argv, message, capsys):
    names = {"missing": files / "nope.png", "junk": files / "junk.png", "photo": files / "photo.png",
             "small": files / "small-mask.png", "tiny": files / "tiny.png", "mask": files / "mask.png", "dir": files}
    assert _run(files, *[a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("robust-canvas: error: ") and message in err


def test_the_default_model_is_used_without_model(files, monkeypatch):
    monkeypatch.setenv("ROBUST_CANVAS_DEFAULT_MODEL", "tiny")
    assert main(["translate", str(files / "photo.png"), "dog", "--steps", "1", "--out", str(files / "d.png")]) == 0
    assert (files / "d.png").exists()


def test_unknown_model_id_is_an_error(files, capsys):
    assert main(["generate", "cat", "--model", "no-such-model", "--out", str(files / "x.png")]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_inpaint_says_when_it_leaves_the_fill_alone(files, capsys):
    """No class and a model unsure of its guess: the output names the file and says the hole is the
    fill only; `rerun` reproduces it and says so again. With a class given, no such line."""
    out = files / "i.png"
    assert _run(files, "inpaint", str(files / "photo.png"), str(files / "mask.png"), "--min-confidence", "1",
                "--out", str(out)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{out}\t") and lines[1].startswith(f"{out}: class: none (the model is unsure")
    assert main(["rerun", str(out), "--model", "tiny"]) == 0
    assert "fill only" in capsys.readouterr().out
    assert _run(files, "inpaint", str(files / "photo.png"), str(files / "mask.png"), "--min-confidence", "1",
                "--class", "ship", "--out", str(out)) == 0
    assert "unsure" not in capsys.readouterr().out
