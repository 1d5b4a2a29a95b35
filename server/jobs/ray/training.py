"""A person's training on the Ray cluster: where `TrainingRunner` (jobs/trainings.py) trains with `--ray`.

The runner stays in the front end: it checks, queues (one at a time, then 429), records every state
in the data dir's database, and publishes. `RayTraining` is only where the training itself runs:
a `Trainer` actor of its own, with `ray_training_cpus` cores on whatever node has them, never the
front end's process. Every POLL_S the front end relays the trainer's stages and progress to the
runner (its events, its cancel), and keeps the checkpoint of each finished epoch.

No node needs the front end's disk: the photos and the base model's files go to the trainer
through Ray's object store, and the finished model's folder comes back the same way, to be
published in the front end's data dir by one rename (`own_models.publish`: no half model is ever
listed). The epochs' checkpoints wait in the front end's staging folder, so a front end killed
mid-training continues from the last one at its next start, as the embedded server does.
Cancelling (or stopping the front end) kills the actor, which frees its cores at once.
"""
import os
import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable

import ray
import torch
from ray.exceptions import RayActorError, RayTaskError

from ...settings import Settings
from ...synthesis.own_models import make_own_model, publish, staging_dir
from ...synthesis.training import TrainConfig, TrainingStopped
from .files import Files, model_files, read_folder, write_folder

POLL_S = 0.5   # how often the front end asks the trainer for its news (and checks for a cancel)


class RayTraining:
    """`TrainingRunner`'s `make` on the cluster: trains `cfg` in a `Trainer` actor and publishes the
    model in `data_dir`; the same callbacks as `make_own_model`'s, called in the runner's thread."""

    def __init__(self, settings: Settings):
        self.cpus = settings.ray_training_cpus

    def __call__(self, cfg: TrainConfig, data_dir: Path, *, resume: bool, progress: Callable, stage: Callable,
                 stopped: Callable[[], bool]) -> None:
        staging = Path(cfg.out_dir)
        saved = staging / "checkpoint.pt"
        if not resume:
            shutil.rmtree(staging, ignore_errors=True)   # an abandoned run of the same id
        checkpoint = saved.read_bytes() if resume and saved.exists() else None
        trainer = Trainer.options(num_cpus=self.cpus).remote()
        try:
            made = trainer.run.remote(cfg, read_folder(Path(cfg.data_dir)), model_files(Path(cfg.init)), checkpoint)
            while True:
                done = bool(ray.wait([made], timeout=POLL_S)[0])
                events, newer = _answer(trainer.poll.remote(), stopped)   # after `done`: it has every event
                for kind, value in events:
                    if kind == "stage":
                        stage(value)            # raises TrainingStopped once stopped
                    elif progress(value):
                        raise TrainingStopped("stopped during the training")
                if newer is not None:
                    _write(saved, newer)
                if stopped():
                    raise TrainingStopped("stopped")
                if done:
                    break
            files = _result(made)
        finally:
            ray.kill(trainer)
        write_folder(files, staging)
        publish(staging, cfg.model_id, data_dir)
        shutil.rmtree(cfg.data_dir, ignore_errors=True)   # its photos went with the model (keep_photos)


@ray.remote(max_concurrency=2)   # `run` in one thread, `poll` in the other
class Trainer:
    """One training, in a temporary data dir of its node: `run` makes the model; `poll` tells what
    happened since the last poll."""

    def __init__(self):
        self._lock = threading.Lock()
        self._events: list[tuple[str, object]] = []   # ("stage", name), ("progress", TrainProgress): in order
        self._checkpoint: Path | None = None
        self._sent: int | None = None                 # the checkpoint's mtime when it was last sent

    def run(self, cfg: TrainConfig, photos: Files, base: Files, checkpoint: bytes | None) -> Files:
        """The finished model's folder (`make_own_model` with its photos), as files."""
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        torch.set_num_threads(max(1, int(cpus or 1)))
        with tempfile.TemporaryDirectory(prefix="robust-canvas-training-") as tmp:
            data_dir = Path(tmp)
            upload = write_folder(photos, data_dir / "uploads" / Path(cfg.data_dir).name)
            init = write_folder(base, data_dir / "base") / Path(cfg.init).name
            staging = staging_dir(cfg.model_id, data_dir)
            self._checkpoint = staging / "checkpoint.pt"
            if checkpoint is not None:
                _write(self._checkpoint, checkpoint)
                self._sent = self._checkpoint.stat().st_mtime_ns
            cfg = replace(cfg, data_dir=str(upload), out_dir=str(staging), init=str(init))
            made = make_own_model(cfg, data_dir, resume=checkpoint is not None, progress=self._progress,
                                  stage=self._stage, keep_photos=True)
            return read_folder(made.weights.parent)

    def poll(self) -> tuple[list, bytes | None]:
        """(the events since the last poll, the checkpoint of an epoch finished since, or None)."""
        with self._lock:
            events, self._events = self._events, []
        return events, self._newer_checkpoint()

    def _stage(self, name: str) -> None:
        with self._lock:
            self._events.append(("stage", name))

    def _progress(self, p) -> bool:
        with self._lock:
            if self._events and self._events[-1][0] == "progress":   # only the latest step's matters
                self._events[-1] = ("progress", p)
            else:
                self._events.append(("progress", p))
        return False

    def _newer_checkpoint(self) -> bytes | None:
        try:
            stamp = self._checkpoint.stat().st_mtime_ns if self._checkpoint else None
            if stamp is None or stamp == self._sent:
                return None
            data = self._checkpoint.read_bytes()   # written whole, by a rename: this one or the next
        except FileNotFoundError:   # published meanwhile
            return None
        self._sent = stamp
        return data


def _answer(ref, stopped: Callable[[], bool]):
    """The call's answer; TrainingStopped should the training be stopped while it waits (the actor
    may wait for a node with free cores)."""
    while not ray.wait([ref], timeout=POLL_S)[0]:
        if stopped():
            raise TrainingStopped("stopped before the training started")
    return _result(ref)


def _result(ref):
    """The call's answer; the trainer's own exception where it raised one, a short error where it died."""
    try:
        return ray.get(ref)
    except RayTaskError as e:
        raise e.cause from None
    except RayActorError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise RuntimeError(f"the training's Ray worker died ({type(e).__name__}: {first[:200]})") from None


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: a temporary name, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
