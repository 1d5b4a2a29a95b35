"""The Robust Canvas library: one optimizer, composable objectives, robust models, six tasks."""
from .constraints import AllOf, Ball, Constraint, KnownPixels, random_start
from .models.loading import load_model
from .models.meta import ModelMeta
from .models.robust_model import RobustModel
from .objectives import Objective, Outputs, class_score, cross_entropy, feature, logit, masked_mse
from .optimizer import Progress, Result, optimize
from .steps import L2Step, LinfStep, Step

__all__ = ["AllOf", "Ball", "Constraint", "KnownPixels", "random_start", "load_model", "ModelMeta", "RobustModel",
           "Objective", "Outputs", "class_score", "cross_entropy", "feature", "logit", "masked_mse", "Progress",
           "Result", "optimize", "L2Step", "LinfStep", "Step"]
