"""inpaint: fill the masked region so that it belongs to the class and meets its border without a seam."""
import torch

from .. import photo
from ..objectives import class_score, masked_mse, seam
from ..texture import FILLS
from .inputs import at_model_size, display_size, labels, resize
from .registry import AUTO_CLASS, IMAGE, STEPS_IN_BALL, Field, TaskSpec, register
from .runs import TaskRun, ball_run


def build(model, image, mask, class_, *, seed: int, settings: dict) -> TaskRun:
    """Fill the masked region so that it belongs to the class and meets its border without a seam.

    With `known` "exact" the pixels outside the hole never change (the optimizer moves only the
    hole, and results show them exactly as given) and the objective is class score minus
    `penalty_weight` times the colour jumps across the hole's edge (`objectives.seam`); with
    "penalty" (the paper's) the known pixels are held by that weight times their squared distance.
    The hole starts from `fill`: "patchmatch" or "patch" (texture from the known pixels, by
    PyPatchMatch or our own `texture.patch_fill`), "harmonic" (smooth from its border, `fill.harmonic_fill`) or "mean" (the mean colour of the known
    pixels). With "exact" the fill is made at display size and the model's change to it carried back
    (`photo.inpaint_start`), so the hole keeps the fill's fine texture and the pixels outside it are
    the photo's, bit for bit. The class is given, or the model's prediction on that fill; where the
    model gives its guess less than `min_confidence` (a photo of none of its classes, most often), or
    with `guess` "off" (only a class a person names is pushed toward), the hole keeps the fill: only
    the sure images are free to move (`guess`), and the run's notes say why.
    """
    s = settings
    x, m = at_model_size(model, image), at_model_size(model, mask)
    display = display_size(tuple(image.shape[2:]), model.meta.input_size)
    exact = s["known"] == "exact"
    carried = None
    if exact:   # filled at the photo's resolution; the model moves only pixels wholly inside the hole,
        hole = m >= photo.WHOLE   # so that its change fades out before the hole's edge
        x0, carried = photo.inpaint_start(resize(image, display), resize(mask, display) > 0, x, hole, FILLS[s["fill"]])
    else:
        hole = m
        x0 = FILLS[s["fill"]](x, hole)
    if class_ is None:
        classes, sure, notes = guess(model, x0, s["min_confidence"] if s["guess"] == "on" else None)
    else:
        classes, sure, notes = labels(class_, len(x)), torch.ones(len(x), dtype=torch.bool), None
    free = hole if exact else None
    if not sure.all():   # the unsure images stay at their start: a constraint of the one run, no other loop
        free = (hole if exact else torch.ones_like(m, dtype=torch.bool)) & sure.view(-1, 1, 1, 1).to(m.device)
    if exact:
        objective = class_score(classes) - s["penalty_weight"] * seam(hole)
    else:
        objective = class_score(classes) - s["penalty_weight"] * masked_mse(x, 1 - m)
    run = ball_run(x0, objective, s, display, free=free, carry=carried)
    run.notes = notes
    return run


GUESS_OFF = "class: none (guess is off: the hole keeps the fill; name a class to push it toward)"


@torch.no_grad()
def guess(model, x0, least: float | None) -> tuple:
    """The model's own class for each start, whether the hole is pushed toward it (its probability is
    at least `least`; never where `least` is None: the setting guess is off), and per image a note
    saying what was done where it is not ("" where it is). Pushing toward an unsure guess paints its
    colours into photos of other subjects (docs/TASKS.md). The guess is made either way: the run's
    objective, and so its score, is the guessed class's."""
    p = model(x0.to(model.device)).float().softmax(1).cpu()
    top, classes = p.max(1)
    if least is None:
        return classes, torch.zeros_like(top, dtype=torch.bool), [GUESS_OFF] * len(top)
    sure = top >= least
    name = lambda c: model.meta.classes[c]
    notes = ["" if ok else f"class: none (the model is unsure: {name(c)} at {t:.2f} < {least:g}; fill only)"
             for c, t, ok in zip(classes.tolist(), top.tolist(), sure.tolist())]
    return classes, sure, notes


def check(model, image, mask, class_, *, seed: int, settings: dict) -> None:
    """One class for all images, or one each (none: the model's guess, made when it is built)."""
    if class_ is not None:
        labels(class_, len(image))


SPEC = register(TaskSpec(
    "inpaint", "fill the masked region of an image", build,
    (IMAGE, Field("mask", "mask", "the region to fill: white (1) = missing", required=True), AUTO_CLASS),
    (*STEPS_IN_BALL, "penalty_weight", "fill", "known", "guess", "min_confidence"),
    {"steps": 20, "step_size": 0.2, "eps": 1.0, "penalty_weight": 10.0, "rule": "momentum", "patience": 3,
     "fill": "harmonic", "known": "exact", "guess": "on", "min_confidence": 0.0},
    "one image, the source's aspect ratio", check=check))
