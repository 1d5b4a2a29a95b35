"""A Ray model worker: the served models, loaded onto one device, solving batches pulled from the job store."""
import os
import time

import ray
import torch

from ...settings import Settings
from ...synthesis import tasks
from ...synthesis.models.loading import Card, load_model
from ..manager import Solver
from ..views import preview_view, result_view
from .files import loadable


@ray.remote
class ModelWorker:
    """The served models on one device, solving batches that it pulls from the store."""

    def __init__(self, name: str, store, models: dict, files: dict, settings: Settings, device: str, solver: Solver):
        """`models`: id -> a card (`loading.Card`: the weights are loaded from its file, on this node),
        or a model in memory. `files`: id -> a reference to the files of a model made at run time
        (`files.model_files`), for a node without its card's file; such a model that cannot be loaded
        is left out (its jobs fail saying why), where any other one stops the worker."""
        self.name, self.store, self.settings, self.solver = name, store, settings, solver
        self.device, self.models, self.missing = device, {}, {}
        for model_id, model in models.items():
            if model_id in files:
                self._add(model_id, model, files[model_id])
            else:
                self.models[model_id] = _load(model, device)
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        if cpus:
            torch.set_num_threads(max(1, int(cpus)))

    def run(self) -> None:
        """Pull and solve batches until the store stops; returns only then. Each answer first brings
        the models added (or removed) since the last one, so a batch never names a model it lacks."""
        while True:
            answer = ray.get(self.store.take.remote(self.name, os.getpid()))
            if answer is None:
                return
            changes, batch = answer
            self._apply(changes)
            if batch:
                self._solve(batch)

    def _apply(self, changes: dict) -> None:
        """The store's news of the models: id -> (card, reference to its files) added, or None removed."""
        for model_id, change in changes.items():
            if change is None:
                self.models.pop(model_id, None)
                self.missing.pop(model_id, None)
            else:
                self._add(model_id, *change)

    def _add(self, model_id: str, card: Card, files) -> None:
        """A model made at run time (`files`: a reference to its files); one that cannot be loaded here
        is remembered with why, for its jobs' errors."""
        self.models.pop(model_id, None)
        try:
            self.models[model_id] = _load(card, self.device, files)
            self.missing.pop(model_id, None)
        except Exception as e:  # noqa: BLE001 -- the other models are served still
            self.missing[model_id] = f"{type(e).__name__}: {e}"

    def _solve(self, batch: list[tuple], nested: int = 0) -> None:
        """Solve (job id, model id, recipe) triples that share a key, in one call (`solve_by_key`);
        `nested`: in that many batches paused for it (another person's turn, see `_callbacks`)."""
        started = time.monotonic()
        ids = [job_id for job_id, _, _ in batch]
        try:
            model = self._model(batch[0][1])
            problems = [tasks.rebuild(model, recipe) for _, _, recipe in batch]   # the jobs' problems again
            results = solve_by_key(self.solver, model, problems, self._callbacks(ids, nested))
            done = [(job_id, result_view(model, p, r), r.steps_done)
                    for job_id, p, r in zip(ids, problems, results) if not r.stopped]
        except Exception as e:  # noqa: BLE001 -- a bad job must fail, not kill the worker
            ray.get(self.store.fail.remote(self.name, ids, f"the job failed: {type(e).__name__}: {e}"))
            return
        ray.get([self.store.finish.remote(self.name, *d) for d in done])
        self.store.batch_done.remote(time.monotonic() - started, len(batch))

    def _model(self, model_id: str):
        if model_id in self.models:
            return self.models[model_id]
        why = self.missing.get(model_id, "it is not served (deleted?)")
        raise LookupError(f"model {model_id!r} could not be loaded on this worker: {why}")

    def _callbacks(self, ids: list[str], nested: int) -> list:
        """One callback per job; the first to see a step reports it for the batch in one call.

        The report does not wait for the store's answer (which jobs to stop, and maybe another
        person's turn): it is read at a later step, once it has come, so a step never waits on the
        network, and a cancellation takes effect one or two steps later. Steps reported while an
        answer is outstanding are skipped. A turn is solved there and then, the batch paused
        meanwhile (rules.JobTable.take_turn): a light user's image need not wait for a long batch.
        """
        stopped: set[str] = set()
        seen = {"step": -1, "answer": None}
        every, max_images = self.settings.preview_every, self.settings.preview_max_images

        def report(step: int) -> None:
            answer = seen["answer"]
            if answer is not None and ray.wait([answer], timeout=0)[0]:
                stop, turn, changes = ray.get(answer)
                stopped.update(stop)
                answer = None
                if turn:
                    self._apply(changes)
                    self._solve(turn, nested + 1)
                    ray.get(self.store.resume.remote(self.name, [i for i in ids if i not in stopped]))
            if answer is None:
                answer = self.store.progress.remote(self.name, [i for i in ids if i not in stopped], step, nested)
            seen.update(step=step, answer=answer)

        def callback(job_id: str):
            def on_step(progress) -> bool:
                if progress.step != seen["step"]:
                    report(progress.step)
                preview = preview_view(progress, every, max_images)
                if preview and job_id not in stopped:
                    self.store.preview.remote(self.name, job_id, preview)
                return job_id in stopped
            return on_step

        return [callback(i) for i in ids]


def _load(source, device: str, files=None):
    """A served model on this worker's device: loaded from its card's source (or, where that file is
    not on this node, from `files`, a reference to its files), or the model given."""
    if not isinstance(source, Card):
        return source.to(device).for_serving()
    with loadable(source.source, (lambda: ray.get(files)) if files is not None else None) as path:
        return load_model(path, device=device).for_serving()


def solve_by_key(solver: Solver, model, problems: list, callbacks: list) -> list:
    """The problems solved in one `solver` call per batch key, results in order. The store batches
    jobs by the key the front end computed from their recipes (`tasks.batch_key`); should it ever
    disagree with the built problems' keys, the batch is split here, never solved wrong."""
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(problems):
        groups.setdefault(p.batch_key, []).append(i)
    results = [None] * len(problems)
    for group in groups.values():
        for i, r in zip(group, solver(model, [problems[i] for i in group], [callbacks[i] for i in group])):
            results[i] = r
    return results
