"""What a task gives back: `finish` turns an optimizer Result into display-ready images and verdicts."""
from dataclasses import dataclass

import torch

from ..optimizer import Result
from ..recipes import Recipe
from .inputs import predict, resize


@dataclass
class TaskOutput:
    images: torch.Tensor      # (N,3,H,W) in [0,1] at display size
    classes: list[int]        # the model's prediction on each result
    class_names: list[str]
    scores: list[float]       # final objective per image
    trace: torch.Tensor       # (N, steps_done + 1) objective per step
    stopped: bool             # the callback asked to stop early
    recipe: Recipe            # what made these images: rerunning it gives the same pixels
    notes: list[str] | None = None   # per image, what the task decided (inpaint: its automatic class)


def finish(model, run, result: Result) -> TaskOutput:
    """A TaskRun's results at display size, with the model's verdict on each.

    Results are resized to the run's display size (the source's aspect ratio), or, where the run
    works on a photo, the model's change is carried back onto it at its resolution (photo.Carry:
    unchanged pixels keep the photo's values exactly).
    """
    classes = (predict(model, result.images) if result.classes is None else result.classes).tolist()
    if run.carry is not None:
        images = run.carry.apply(result.images)
    else:
        images = resize(result.images.detach().float().cpu(), run.display_size)
    return TaskOutput(images=images,
                      classes=classes, class_names=[model.meta.classes[c] for c in classes],
                      scores=result.trace[:, -1].tolist(), trace=result.trace.cpu(), stopped=result.stopped,
                      recipe=run.recipe, notes=run.notes)
