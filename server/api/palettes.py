"""The palette service: each served model's feature swatches as thumbnails, computed once per model.

A palette takes minutes on a CPU for a photo model, so the server computes each model's in the
background at start-up (`warm`), one after another, and a request that comes first waits for the
same computation (one per model, never two). Computing runs in a thread, off the event loop;
setting `stopping` (at shutdown) ends it within one optimizer step (PaletteCancelled).

Where it is computed: here, with the served model (`feature_palette`), or by `swatches(model_id,
card, stop)` where the front end holds only cards (with Ray: a Ray worker process loads the model).
"""
import asyncio
import threading
from typing import Callable

from starlette.concurrency import run_in_threadpool

from ..synthesis.palette import PaletteCancelled, feature_palette
from .images import encode_png, thumbnail


class Palettes:
    def __init__(self, thumbnail_size: int, stopping: threading.Event, swatches: Callable | None = None):
        self.thumbnail_size, self.stopping = thumbnail_size, stopping
        self.swatches = swatches or (lambda model_id, model, stop: feature_palette(model, stop=stop))
        self._done: dict[str, list[dict]] = {}     # model id -> swatches, kept in memory
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, model_id: str, model) -> list[dict]:
        """[{index, thumbnail}] for every feature; PaletteCancelled when the server is stopping."""
        async with self._locks.setdefault(model_id, asyncio.Lock()):   # one computation per model
            if model_id not in self._done:
                self._done[model_id] = await run_in_threadpool(self._compute, model_id, model)
        return self._done[model_id]

    async def warm(self, models: dict) -> None:
        """Every model's palette, one after another, so that no request waits minutes for the first."""
        try:
            for model_id, model in models.items():
                await self.get(model_id, model)
        except PaletteCancelled:
            pass

    def _compute(self, model_id: str, model) -> list[dict]:
        swatches = self.swatches(model_id, model, self.stopping)
        return [{"index": k, "thumbnail": encode_png(thumbnail(s, self.thumbnail_size))}
                for k, s in enumerate(swatches)]
