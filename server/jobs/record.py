"""`Job`: one job's record, the same in both managers, and what the API shows of it.

A manager keeps its records to itself and hands out copies (`Job.copy`): a caller reads a job
as it was when it asked, whether the manager lives in this process or in a Ray actor. What a
record holds is plain data (no model, no tensors), so that it pickles to and from Ray.
"""
import copy
import time
import uuid
from dataclasses import dataclass, field

from ..synthesis.recipes import Recipe
from ..synthesis.tasks import TaskRun

TERMINAL = ("done", "failed", "cancelled")


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(eq=False)
class Job:
    task: str
    model: str                   # the model's id
    total: int                   # optimizer steps asked for
    key: tuple                   # (task, model, problem.batch_key): jobs with equal keys can share a batch
    recipe: dict                 # the recipe as JSON: what reproduces the result (no tensors)
    person: str = "local"        # whose job it is (store.people.Person.name): theirs to see, and their turn
    images: int = 1              # images it makes: what it weighs in a batch (rules.JobTable.take_batch)
    id: str = field(default_factory=_new_id)
    status: str = "queued"       # queued, running, then one of TERMINAL
    step: int = 0
    result: dict | None = None
    error: str | None = None
    preview: dict | None = None  # replaced (never mutated) every `preview_every` steps
    batch_size: int = 1          # jobs in the batch that runs it
    worker: str | None = None    # what runs it: a device's thread, or a Ray model worker
    pid: int | None = None       # the process that runs it: the server's, or the Ray worker's
    attempts: int = 0            # runs started (a Ray job whose worker died runs once more)
    cancel_requested: bool = False
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    last_step: float | None = None   # when a step was last reported (the Ray store kills silent workers)
    paused_at: float | None = None   # while its batch waits for another person's turn (rules.JobTable.take_turn)
    paused_s: float = 0.0            # the time it waited so: not counted against its time limit
    finished: float | None = None

    @classmethod
    def of(cls, task: str, model_id: str, problem: TaskRun, person: str = "local") -> "Job":
        """A queued job of `person` for a built (validated) problem."""
        return cls.checked(task, model_id, problem.recipe, problem.batch_key, person)

    @classmethod
    def checked(cls, task: str, model_id: str, recipe: Recipe, batch_key: tuple, person: str = "local") -> "Job":
        """A queued job of `person` for a checked recipe (`tasks.check`) whose problem will have `batch_key`."""
        return cls(task=task, model=model_id, total=recipe.settings["steps"], key=(task, model_id, batch_key),
                   recipe=recipe.to_json(), person=person, images=images_of(recipe))

    @classmethod
    def recorded(cls, fields: dict) -> "Job":
        """A job as the result store recorded it (`ResultStore.job`); it runs no more, so no batch key."""
        return cls(key=(), **fields)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def copy(self) -> "Job":
        """A snapshot: later changes to this record do not reach it (result and preview are replaced,
        never mutated, so they are shared)."""
        return copy.copy(self)

    def view(self) -> dict:
        """What GET /api/jobs/{id} answers (schemas.JobView)."""
        return {"id": self.id, "task": self.task, "model": self.model, "status": self.status, "step": self.step,
                "total": self.total, "result": self.result, "error": self.error, "recipe": self.recipe}


def images_of(recipe: Recipe) -> int:
    """The images a recipe's run makes, from the recipe alone: n per class for generate, else one."""
    classes = recipe.inputs.get("class")
    return int(recipe.inputs.get("n") or 1) * (len(classes) if isinstance(classes, list) else 1)
