"""paint: raise representation features inside brushed regions, keep the rest in place."""
import torch

from ..errors import FieldError
from .. import objectives, photo
from ..objectives import masked_mse
from .inputs import at_model_size, display_size, features, resize
from .registry import IMAGE, STEPS_IN_BALL, Field, TaskSpec, register
from .runs import TaskRun, ball_run


def build(model, image, mask, feature, *, seed: int, settings: dict) -> TaskRun:
    """Paint with features: raise feature k inside the brushed region, keep the rest in place.

    Several strokes at once: `mask` and `feature` as equal-length lists; the penalty then holds
    everything outside all strokes.
    """
    s = settings
    x = at_model_size(model, image)
    outside = torch.ones_like(x[:, :1])
    objective = None
    for stroke_mask, k in _strokes(mask, feature):
        region = at_model_size(model, stroke_mask)
        outside = outside * (1 - region)
        term = s["feature_weight"] * objectives.feature(features(model, k, len(x)), region)
        objective = term if objective is None else objective + term
    objective = objective - s["penalty_weight"] * masked_mse(x, outside)
    display = display_size(tuple(image.shape[2:]), model.meta.input_size)
    return ball_run(x, objective, s, display, carry=photo.carry(resize(image, display), x))   # at the photo's size


def check(model, image, mask, feature, *, seed: int, settings: dict) -> None:
    """At least one stroke, a feature (or one per image) for each."""
    for _, k in _strokes(mask, feature):
        features(model, k, len(image))


def _strokes(mask, feature) -> list[tuple]:
    """(mask, feature) per stroke: one, or as many as the lists give."""
    if not isinstance(mask, list):
        return [(mask, feature)]
    if not mask:
        raise FieldError("mask", "paint needs at least one stroke")
    if not isinstance(feature, list) or len(mask) != len(feature):
        raise FieldError("feature", "several strokes need as many features as masks")
    return list(zip(mask, feature))


SPEC = register(TaskSpec(
    "paint", "paint a representation feature into a brushed region", build,
    (IMAGE, Field("mask", "mask", "the brushed region: white (1) = paint here", required=True, many=True),
     Field("feature", "feature", "representation component to paint: its index, its name or a class name "
           "(the class's top feature); see the model's palette", required=True, many=True)),
    (*STEPS_IN_BALL, "feature_weight", "penalty_weight"),
    {"steps": 30, "step_size": 1.0, "eps": 10.0, "feature_weight": 0.1, "penalty_weight": 90.0,
     "rule": "momentum", "patience": 0},
    "one image, the source's aspect ratio", check=check))
