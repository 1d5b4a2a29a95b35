"""What a job publishes: its result (PNG data URLs and the model's verdict) and its previews."""
import math

from ..synthesis import tasks
from ..synthesis.recipes import encode_pngs
from ..synthesis.tasks import TaskRun


def result_view(model, problem: TaskRun, result) -> dict:
    """A finished job's `result`: PNG data URLs at display size and the model's verdict."""
    out = tasks.finish(model, problem, result)
    height, width = out.images.shape[2:]
    return {"images": encode_pngs(out.images, out.recipe), "classes": out.classes, "class_names": out.class_names,
            "scores": [s if math.isfinite(s) else None for s in out.scores], "width": width, "height": height,
            "notes": out.notes or [""] * len(out.classes)}


def preview_view(progress, every: int, max_images: int) -> dict | None:
    """The preview to publish at this step (one every `every` steps), or None between previews."""
    if progress.step % every or not 0 < progress.step < progress.total:
        return None
    images = encode_pngs(progress.x[:max_images])
    return {"step": progress.step, "total": progress.total, "image": images[0], "images": images}
