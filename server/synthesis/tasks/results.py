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


def finish(model, run, result: Result) -> TaskOutput:
    """A TaskRun's results at display size, with the model's verdict on each.

    Results are resized to the run's display size (the source's aspect ratio); pixels the run
    was given exactly (inpainting's known pixels) are shown exactly as given.
    """
    classes = (predict(model, result.images) if result.classes is None else result.classes).tolist()
    images = resize(result.images.detach().float().cpu(), run.display_size)
    if run.given is not None:
        original, known = run.given
        images = torch.where(known, original, images)
    return TaskOutput(images=images,
                      classes=classes, class_names=[model.meta.classes[c] for c in classes],
                      scores=result.trace[:, -1].tolist(), trace=result.trace.cpu(), stopped=result.stopped,
                      recipe=run.recipe)
