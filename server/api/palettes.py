"""The palette service: each served model's paint palette (synthesis/features/entries.py), made once
per model, and how far a computation is (`Progress`, for the 503 answers' Retry-After).

A model with shipped names and swatches answers from its files in well under a second. Any other
model's swatches take minutes on a CPU for a photo model, so the server computes each model's in
the background at start-up (`warm`), one after another; a request that comes first starts or joins
the same computation (one per model, never two) but waits for it at most `wait` seconds, then
gets TimeoutError (the route answers 503 with Retry-After and `progress`) while it goes on.
Computing runs in a thread, off the event loop; setting `stopping` (at shutdown) ends it within
one optimizer step (PaletteCancelled), and `stop()` waits for it.

Where entries are computed: here, with the served model (`palette_entries`), or by `entries(model_id,
card, size, stop)` where the front end holds only cards (with Ray: a Ray task loads the model).
"""
import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from starlette.concurrency import run_in_threadpool

from ..synthesis.features.entries import palette_entries
from ..synthesis.palette import PaletteCancelled


@dataclass
class Progress:
    """How far a palette computation is: for 503 answers and their Retry-After."""
    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    def update(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def retry_after(self) -> int:
        """Seconds until it is likely done (at least 1, at most 30)."""
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done * (self.total - self.done) if self.done else max(5.0, elapsed)
        return int(min(max(left, 1), 30))

    def message(self, model_id: str) -> str:
        return (f"the feature palette of {model_id!r} is being computed ({self.done} of {self.total} swatches); "
                f"try again in {self.retry_after()} s")


class Palettes:
    def __init__(self, thumbnail_size: int, stopping: threading.Event, entries: Callable | None = None):
        self.thumbnail_size, self.stopping = thumbnail_size, stopping
        self.entries = entries or (lambda model_id, model, size, stop, progress:
                                   palette_entries(model, size, stop, progress))
        self._done: dict[str, list[dict]] = {}           # model id -> entries, kept in memory
        self._tasks: dict[str, asyncio.Future] = {}      # model id -> its computation
        self.progress: dict[str, Progress] = {}          # model id -> how far its computation is

    async def get(self, model_id: str, model, wait: float | None = None) -> list[dict]:
        """Every feature's entry; TimeoutError when not done within `wait` seconds (None: no limit),
        PaletteCancelled when the server is stopping."""
        if model_id in self._done:
            return self._done[model_id]
        task = self._tasks.get(model_id)
        if task is None or (task.done() and (task.cancelled() or task.exception())):  # never started, or failed
            self.progress[model_id] = Progress(total=model.meta.num_features)
            task = self._tasks[model_id] = asyncio.ensure_future(self._compute(model_id, model))
        return await asyncio.wait_for(asyncio.shield(task), wait)

    def forget(self, model_id: str) -> None:
        """Drop a model's entries (it was deleted, or replaced by another of the same id)."""
        self._done.pop(model_id, None)
        self._tasks.pop(model_id, None)

    async def warm(self, models: dict) -> None:
        """Every model's palette, one after another, so that no request waits minutes for the first."""
        try:
            for model_id, model in models.items():
                await self.get(model_id, model)
        except PaletteCancelled:
            pass

    async def stop(self) -> None:
        """Wait for computations under way (after `stopping` is set they end within a step)."""
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _compute(self, model_id: str, model) -> list[dict]:
        entries = await run_in_threadpool(self.entries, model_id, model, self.thumbnail_size, self.stopping,
                                          self.progress[model_id].update)
        self._done[model_id] = entries
        return entries
