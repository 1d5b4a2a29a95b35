"""`TrainingRunner`: a person's own models, trained from their upload sets one at a time
(docs/API.md, "Your own model").

One thread of the server runs the trainings, one after the other. Where a training itself runs is
the runner's `make`: by default (`make_here`) in that thread, with a few torch threads
(`training_threads`, default half the cores) at a lower CPU priority (nice 10, Linux: per thread),
so that the synthesis jobs' worker keeps being served meanwhile; on a Ray server in an actor of the
cluster with cores of its own (jobs/ray/training.py), the thread relaying its progress.
`max_trainings_queued` wait behind it; one more is refused (QueueFull: 429).
A training's state is in the data dir's database (store/trainings.py): a server killed mid-training
leaves no half model (make_own_model publishes a model in one rename), and the next start on the
data dir continues the training from its last epoch's checkpoint (`resume`), at most ATTEMPTS
runs in all, like a synthesis job. A server stopped normally leaves it to the next start as well.
"""
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..logs import log
from ..settings import Settings
from ..store.files import Owner
from ..store.people import owner_of
from ..store.trainings import TrainingStore
from ..store.uploads import UploadSets
from ..synthesis.errors import FieldError
from ..synthesis.folders import MIN_PER_CLASS, FolderError
from ..synthesis.models.loading import own_model_ids
from ..synthesis.own_models import FINE_TUNE, fine_tune_config, make_own_model, new_model_id, staging_dir
from ..synthesis.training import TrainingStopped, TrainProgress
from .rules import ATTEMPTS, QueueFull

NICE = 10   # the training thread's CPU priority: below the synthesis jobs' (0)


def make_here(cfg, data_dir: Path, *, resume: bool, progress: Callable, stage: Callable,
              stopped: Callable[[], bool]) -> None:
    """Where a training runs by default: in the runner's thread (`progress` and `stage` see `stopped`)."""
    make_own_model(cfg, data_dir, resume=resume, progress=progress, stage=stage, keep_photos=True)


@dataclass
class Training:
    id: str
    upload: str
    model: str                      # the id the model will have
    base: str                       # the base model, as read_card and load_model take it
    epochs: int | None              # None: FINE_TUNE's
    status: str = "queued"          # queued, running, done, failed, cancelled
    stage: str | None = None        # own_models.STAGES
    progress: dict | None = None    # the last TrainProgress, as a dict
    error: str | None = None
    attempts: int = 0
    owner: str | None = None        # the person it belongs to (store.people; None: a row from before people)
    created: float = field(default_factory=time.time)
    finished: float | None = None
    cancelling: bool = False

    @property
    def terminal(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    def row(self, server: str | None) -> dict:
        return {"id": self.id, "owner": self.owner, "upload": self.upload, "model": self.model, "base": self.base,
                "settings": {"epochs": self.epochs}, "status": self.status, "stage": self.stage,
                "progress": self.progress, "error": self.error, "attempts": self.attempts, "server": server,
                "created": self.created, "finished": self.finished}

    @classmethod
    def of_row(cls, row: dict) -> "Training":
        return cls(id=row["id"], upload=row["upload"], model=row["model"], base=row["base"],
                   epochs=row["settings"].get("epochs"), status=row["status"], stage=row["stage"],
                   progress=row["progress"], error=row["error"], attempts=row["attempts"], owner=row["owner"],
                   created=row["created"], finished=row["finished"])

    def view(self, position: int = 0) -> dict:
        """What GET /api/trainings/{id} answers; `position`: 1 = next in the queue, 0 = not queued."""
        p = self.progress or {}
        return {"id": self.id, "model": self.model, "base": self.base, "upload": self.upload, "status": self.status,
                "position": position, "stage": self.stage, "epoch": p.get("epoch", 0),
                "epochs": p.get("epochs", self.epochs or FINE_TUNE["epochs"]), "step": p.get("step", 0),
                "steps": p.get("steps", 0), "loss": p.get("loss"), "heldout_acc": p.get("heldout_acc"),
                "elapsed_s": p.get("elapsed_s"), "left_s": p.get("left_s"), "error": self.error,
                "attempts": self.attempts, "owner": owner_of(self.owner)}


class TrainingRunner:
    """Every method is safe from any thread. `on_model(model_id)` is called once a model is made
    (the app serves it). `make(cfg, data_dir, resume=, progress=, stage=, stopped=)` trains `cfg`
    and publishes the model in `data_dir` (`own_models.publish`), calling `progress` and `stage` as
    `make_own_model` does; TrainingStopped once `stopped()`: `make_here` (default) in this process,
    or `RayTraining` on a Ray cluster."""

    def __init__(self, settings: Settings, store: TrainingStore, uploads: UploadSets,
                 on_model: Callable[[str], None], make: Callable = make_here):
        self.settings, self.store, self.uploads, self._on_model, self._make = settings, store, uploads, on_model, make
        self.data_dir = Path(settings.data_dir)
        self._owner = Owner(self.data_dir)
        self._cond = threading.Condition()
        self._trainings: dict[str, Training] = {}     # the ones this process has run or holds
        self._queue: list[Training] = []
        self._current: Training | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="trainings", daemon=True)

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._recover()
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop within a training step; a training under way stays open in the store for the next start."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)
        self._owner.release()

    def _recover(self) -> None:
        """Queue again the trainings of servers on this data dir that died (or stopped): each goes on
        from its last epoch's checkpoint; one cut short on its last attempt fails."""
        for row in self.store.unfinished():
            if row["server"] is not None and self._owner.alive(row["server"]):
                continue
            t = Training.of_row(row)
            if t.model in own_model_ids(self.data_dir):    # it died between publishing and saying so
                t.status = "done"
            elif t.status == "running" and t.attempts >= ATTEMPTS:
                t.status, t.error = "failed", (f"the server stopped during each of its {ATTEMPTS} attempts; "
                                               "the training was not finished")
            else:
                t.status = "queued"
            t.finished = time.time() if t.terminal else None
            with self._cond:
                self._trainings[t.id] = t
                if not t.terminal:
                    self._queue.append(t)
            self._save(t)
            log("training_recovered", id=t.id, model=t.model, status=t.status, attempts=t.attempts)

    # ---- requests -----------------------------------------------------------------------------

    def submit(self, upload: str, name: str, base: str, epochs: int | None = None, owner: str | None = None) -> Training:
        """Check the request (FieldError naming `upload`, `name` or `base`), then queue it (QueueFull)."""
        model_id = self._check_name(name)
        counts = self._check_upload(upload)
        try:
            fine_tune_config(self.uploads.folder(upload), model_id, base=base, data_dir=self.data_dir)
        except (FileNotFoundError, ValueError) as e:   # an unknown model, or one that cannot be fine-tuned here
            raise FieldError("base", f"base: {e}") from None
        t = Training(id=uuid.uuid4().hex, upload=upload, model=model_id, base=base, epochs=epochs, owner=owner)
        with self._cond:
            if len(self._queue) + (self._current is not None) > self.settings.max_trainings_queued:
                raise QueueFull(self._retry_after())
            self._trainings[t.id] = t
            self._queue.append(t)
            self._save(t)   # before the 202 (StoreError: it cannot be recorded, and is not queued)
            self._cond.notify_all()
        log("training_queued", id=t.id, model=model_id, upload=upload, photos=sum(counts.values()),
            queue=len(self._queue))
        return t

    def _check_name(self, name: str) -> str:
        try:
            model_id = new_model_id(name, self.data_dir)
        except FolderError as e:
            raise FieldError("name", "name: " + str(e).replace("--model-id", "another name")) from None
        with self._cond:
            if any(t.model == model_id and not t.terminal for t in self._trainings.values()):
                raise FieldError("name", f"name: a model {model_id!r} is being trained already: pick another name")
        return model_id

    def _check_upload(self, upload: str) -> dict[str, int]:
        """Its photo counts, when it could make a model: two classes or more, each with enough photos."""
        try:
            counts = self.uploads.counts(upload)
        except LookupError as e:
            raise FieldError("upload", f"upload: {e}") from None
        if len(counts) < 2:
            raise FieldError("upload", f"upload: it has {len(counts)} class{'es' if len(counts) != 1 else ''} "
                                       f"({', '.join(counts) or 'none'}): a model tells classes apart, so it "
                                       "needs photos of at least 2")
        few = {c: n for c, n in counts.items() if n < MIN_PER_CLASS}
        if few:
            raise FieldError("upload", "upload: too few photos in " + ", ".join(f"{c} ({n})" for c, n in few.items())
                             + f": each class needs at least {MIN_PER_CLASS}")
        if self.uses(upload):
            raise FieldError("upload", "upload: a training of these photos is under way already")
        return counts

    def _retry_after(self) -> int:
        left = (self._current.progress or {}).get("left_s") if self._current else None
        return max(5, int(left or 60))

    def get(self, training_id: str) -> dict | None:
        """The training's view, from memory or (one of another process, or from before a restart) the store."""
        with self._cond:
            t = self._trainings.get(training_id)
            if t is not None:
                return t.view(self._queue.index(t) + 1 if t in self._queue else 0)
        row = self.store.training(training_id)
        return Training.of_row(row).view() if row else None

    def cancel(self, training_id: str) -> dict | None:
        """A queued training is cancelled at once, a running one within a step; an ended one is left."""
        with self._cond:
            t = self._trainings.get(training_id)
            if t is None:
                return None
            if t in self._queue:
                self._queue.remove(t)
                self._end(t, "cancelled")
            elif t.status == "running":
                t.cancelling = True
        return self.get(training_id)

    def uses(self, upload: str) -> bool:
        """Whether a queued or running training is of this upload set."""
        with self._cond:
            return any(t.upload == upload and not t.terminal for t in self._trainings.values())

    # ---- the training thread ------------------------------------------------------------------

    def _run(self) -> None:
        _lower_priority(self.settings.training_threads or max(1, (os.cpu_count() or 2) // 2))
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                t = self._current = self._queue.pop(0)
                t.status, t.attempts = "running", t.attempts + 1
                self._save(t)
            log("training_started", id=t.id, model=t.model, attempt=t.attempts)
            try:
                self._train(t)
            finally:
                with self._cond:
                    self._current = None

    def _train(self, t: Training) -> None:
        try:
            cfg = fine_tune_config(self.uploads.folder(t.upload), t.model, base=t.base, data_dir=self.data_dir,
                                   epochs=t.epochs)
            cfg.command = f"POST /api/trainings {{upload: {t.upload}, name: {t.model}, base: {t.base}}}"
            # A second attempt (the server died during the first) continues from the last epoch's checkpoint.
            self._make(cfg, self.data_dir, resume=t.attempts > 1, progress=lambda p: self._progress(t, p),
                       stage=lambda name: self._stage(t, name), stopped=lambda: self._stopped(t))
        except TrainingStopped:
            if self._stopping:   # left open in the store: the next start continues it
                return
            shutil.rmtree(staging_dir(t.model, self.data_dir), ignore_errors=True)
            with self._cond:
                self._end(t, "cancelled")
            return
        except Exception as e:  # noqa: BLE001 -- a bad training fails, the thread goes on
            shutil.rmtree(staging_dir(t.model, self.data_dir), ignore_errors=True)
            error = str(e) if isinstance(e, (FolderError, LookupError)) else f"{type(e).__name__}: {e}"
            with self._cond:
                self._end(t, "failed", error=f"the training failed: {error}")
            return
        self.store.delete_upload(t.upload)   # its photos went with the model
        try:
            self._on_model(t.model)
        except Exception as e:  # noqa: BLE001 -- the model is made; serving it is the app's business
            log("training_serve_failed", id=t.id, model=t.model, error=f"{type(e).__name__}: {e}")
        with self._cond:
            self._end(t, "done")

    def _stopped(self, t: Training) -> bool:
        return self._stopping or t.cancelling

    def _progress(self, t: Training, p: TrainProgress) -> bool:
        epoch_ended = t.progress is not None and p.epoch != t.progress["epoch"]
        t.progress = {"epoch": p.epoch, "epochs": p.epochs, "step": p.step, "steps": p.steps, "loss": p.loss,
                      "heldout_acc": p.heldout_acc, "elapsed_s": p.elapsed_s, "left_s": p.left_s}
        if epoch_ended:
            self._save(t)
        return self._stopped(t)

    def _stage(self, t: Training, name: str) -> None:
        if self._stopped(t):   # between stages too: measuring and naming take a while
            raise TrainingStopped(f"stopped before {name}")
        t.stage = name
        self._save(t)

    def _end(self, t: Training, status: str, error: str | None = None) -> None:
        """Under the lock."""
        t.status, t.error, t.finished = status, error, time.time()
        self._save(t)
        log(f"training_{status}", id=t.id, model=t.model, **({"error": error} if error else {}))

    def _save(self, t: Training) -> None:
        self.store.save(t.row(self._owner.id))


def _lower_priority(threads: int) -> None:
    """This thread's torch threads, and its CPU priority below the synthesis jobs' (Linux; elsewhere as is)."""
    torch.set_num_threads(threads)   # per thread with OpenMP: the job workers keep theirs
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (AttributeError, OSError):
        pass
