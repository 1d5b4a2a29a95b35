"""Helpers for the own-model tests: a tiny base model saved as a file, and small photos of two
learnable classes (each dominated by its own colour), as data URLs for POST /api/uploads/{id}/photos."""
import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import make_tiny_model
from tests.model_support import save_model

CHANNELS = {"reds": 0, "greens": 1, "blues": 2}


def save_base(folder: Path) -> Path:
    """The tiny random model as a file (`--model PATH`): what a training fine-tunes."""
    model = make_tiny_model()
    model.meta.id = "base"
    return save_model(model, folder)


def photo_bytes(colour: str, index: int, size=(40, 48), fmt: str = "PNG") -> bytes:
    rng = np.random.default_rng(index + 100 * CHANNELS[colour])
    pixels = rng.uniform(0, 90, (size[1], size[0], 3))
    pixels[..., CHANNELS[colour]] += 150
    buf = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(buf, fmt)
    return buf.getvalue()


def photos(colour: str, n: int = 6) -> list[dict]:
    return [{"name": f"{colour}-{i}.png", "data": "data:image/png;base64," + base64.b64encode(photo_bytes(colour, i)).decode()}
            for i in range(n)]


def upload(client, classes=("reds", "blues"), n: int = 6) -> str:
    """A new upload set with `n` photos of each class; its id."""
    upload_id = client.post("/api/uploads").json()["id"]
    for colour in classes:
        r = client.post(f"/api/uploads/{upload_id}/photos", json={"class": colour, "photos": photos(colour, n)})
        assert r.status_code == 200, r.text
    return upload_id
