"""Issue 18: robust-canvas PNGs open in every reader with its default limits, carry their inputs
compactly and losslessly, and reading a recipe is bounded -- a decompression bomb costs nothing."""
import base64
import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from server.cli import main
from server.synthesis import recipes, tasks
from server.synthesis.recipes import Recipe
from tests.api_support import api_client, picture, tiny_with_seeds


def _photo(side: int, seed: int = 0) -> torch.Tensor:
    """An 8-bit picture with smooth structure and some noise, like a photo."""
    g = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12, generator=g), size=(side, side), mode="bicubic")
    return ((base[0] + 0.04 * torch.randn(3, side, side, generator=g)).clamp(0, 1) * 255).round() / 255


def _plain_png(image: torch.Tensor) -> bytes:
    return recipes.png_bytes(image)


def test_a_768_px_result_opens_with_pillow_defaults_and_stays_compact():
    photo = _photo(768)
    mask = torch.zeros(768, 768)
    mask[200:400, 300:500] = 1
    recipe = Recipe(task="inpaint", model="m", card="0" * 16, seed=0, settings={"steps": 1},
                    inputs={"image": photo, "mask": mask, "class": None})
    data = recipes.png_bytes(photo, recipe)
    with Image.open(io.BytesIO(data)) as img:   # Pillow's default limits, as any user's script has them
        img.load()
        assert img.size == (768, 768) and "robust-canvas" in img.text
    assert len(data) <= 2 * len(_plain_png(photo))
    again, _ = recipes.read_png_recipe(data)
    assert torch.equal(again.inputs["image"], photo) and torch.equal(again.inputs["mask"], mask)


def test_float_inputs_come_back_bit_for_bit_from_the_binary_chunk():
    x = torch.rand(1, 3, 40, 30, generator=torch.Generator().manual_seed(1))
    recipe = Recipe(task="translate", model="m", card="0" * 16, seed=0, settings={}, inputs={"image": x})
    data = recipes.png_bytes(x[0], recipe)
    assert b"rcIN" in data
    assert torch.equal(recipes.read_png_recipe(data)[0].inputs["image"], x)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _bomb(chunks: int = 8, inflated: int = 64 * 1024 * 1024) -> bytes:
    """A small valid PNG followed by `chunks` recipe chunks, each inflating to `inflated` bytes."""
    png = _plain_png(torch.zeros(3, 16, 16))
    head, iend = png[:-12], png[-12:]
    payload = zlib.compress(b"{" + b" " * inflated, 9)
    bombs = b"".join(_chunk(b"zTXt", b"robust-canvas\0\0" + payload) for _ in range(chunks))
    return head + bombs + iend


def test_a_decompression_bomb_is_refused_at_the_cap():
    data = _bomb()
    tracemalloc.start()
    with pytest.raises(recipes.RecipeError, match="inflates past .* bytes, the limit for a 16x16 image"):
        recipes.read_png_recipe(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 3 * recipes.input_budget(16, 16)


def test_the_api_answers_a_bomb_with_a_422_naming_the_limit_and_flat_memory():
    body = {"png": base64.b64encode(_bomb()).decode()}
    with api_client() as client:
        tracemalloc.start()
        answer = client.post("/api/rerun", json=body)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert answer.status_code == 422
    assert "inflates past" in answer.json()["detail"][0]["msg"] and "limit" in answer.json()["detail"][0]["msg"]
    assert peak < 3 * recipes.input_budget(16, 16) + 4 * len(body["png"])


def test_rerun_honours_the_servers_limits():
    model = tiny_with_seeds()
    out = tasks.run(model, "translate", image=torch.rand(3, 32, 32), class_=1, steps=5)
    png = base64.b64encode(recipes.png_bytes(out.images[0], out.recipe)).decode()
    with api_client(models={"tiny": model}, max_steps=4) as client:
        answer = client.post("/api/rerun", json={"png": png})
        assert answer.status_code == 422 and "at most 4 (max_steps)" in answer.json()["detail"][0]["msg"]
    with api_client(models={"tiny": model}, max_image_pixels=32 * 31) as client:
        answer = client.post("/api/rerun", json={"png": png})
        assert answer.status_code == 422 and "max_image_pixels" in answer.json()["detail"][0]["msg"]
    gen = tasks.run(model, "generate", class_="cat", n=3, steps=1)
    png = base64.b64encode(recipes.png_bytes(gen.images[0], gen.recipe)).decode()
    with api_client(models={"tiny": model}, max_n=2) as client:
        answer = client.post("/api/rerun", json={"png": png})
        assert answer.status_code == 422 and "(max_n)" in answer.json()["detail"][0]["msg"]


def test_a_photo_over_the_servers_pixel_limit_is_refused_naming_it():
    with api_client(max_image_pixels=1000) as client:
        answer = client.post("/api/tasks/translate", json={"image": picture((40, 40)), "class": 1})
    assert answer.status_code in (413, 422) and "at most 1000 pixels" in str(answer.json())


def test_the_cli_refuses_an_image_over_pillows_bomb_limit(tmp_path, monkeypatch, capsys):
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert main(["translate", str(tmp_path / "big.png"), "dog", "--model", "tiny", "--out",
                 str(tmp_path / "out.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("robust-canvas: error: ") and "too large" in err
