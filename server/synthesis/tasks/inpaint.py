"""inpaint: fill the masked region so that it belongs to the class and meets its border without a seam."""
from .. import photo
from ..objectives import class_score, masked_mse, seam
from ..texture import FILLS
from .inputs import at_model_size, display_size, labels, predict, resize
from .registry import AUTO_CLASS, IMAGE, STEPS_IN_BALL, Field, TaskSpec, register
from .runs import TaskRun, ball_run


def build(model, image, mask, class_, *, seed: int, settings: dict) -> TaskRun:
    """Fill the masked region so that it belongs to the class and meets its border without a seam.

    With `known` "exact" the pixels outside the hole never change (the optimizer moves only the
    hole, and results show them exactly as given) and the objective is class score minus
    `penalty_weight` times the colour jumps across the hole's edge (`objectives.seam`); with
    "penalty" (the paper's) the known pixels are held by that weight times their squared distance.
    The hole starts from `fill`: "patch" (texture from the known pixels, `texture.patch_fill`),
    "harmonic" (smooth from its border, `fill.harmonic_fill`) or "mean" (the mean colour of the known
    pixels). With "exact" the fill is made at display size and the model's change to it carried back
    (`photo.inpaint_start`), so the hole keeps the fill's fine texture and the pixels outside it are
    the photo's, bit for bit. The class is given, or the model's prediction on that fill.
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
    classes = predict(model, x0) if class_ is None else labels(class_, len(x))
    if exact:
        objective = class_score(classes) - s["penalty_weight"] * seam(hole)
    else:
        objective = class_score(classes) - s["penalty_weight"] * masked_mse(x, 1 - m)
    return ball_run(x0, objective, s, display, free=hole if exact else None, carry=carried)


def check(model, image, mask, class_, *, seed: int, settings: dict) -> None:
    """One class for all images, or one each (none: the model's guess, made when it is built)."""
    if class_ is not None:
        labels(class_, len(image))


SPEC = register(TaskSpec(
    "inpaint", "fill the masked region of an image", build,
    (IMAGE, Field("mask", "mask", "the region to fill: white (1) = missing", required=True), AUTO_CLASS),
    (*STEPS_IN_BALL, "penalty_weight", "fill", "known"),
    {"steps": 20, "step_size": 0.2, "eps": 1.0, "penalty_weight": 10.0, "rule": "momentum", "patience": 3,
     "fill": "harmonic", "known": "exact"},
    "one image, the source's aspect ratio", check=check))
