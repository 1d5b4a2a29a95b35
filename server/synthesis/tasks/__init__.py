"""The six tasks of Santurkar et al. (2019), one module each with its registry entry beside its builder."""
from ..fields import MAX_STEPS, SETTINGS, Field, at_input_size, check_value
from .registry import MAX_BATCH, MAX_FACTOR, SEED, TASKS, TaskSpec, spec, task_defaults
from .inputs import resolve_class, task_settings
from .results import TaskOutput, finish
from .runs import TaskRun, batch_key, build, check, rebuild, recheck, rerun, run, solve, solve_batch
from . import generate, translate, inpaint, superresolve, sketch, paint  # noqa: E402,F401 -- registers, in this order

__all__ = ["MAX_BATCH", "MAX_FACTOR", "MAX_STEPS", "SEED", "SETTINGS", "TASKS", "Field", "TaskSpec", "at_input_size",
           "spec", "task_defaults", "check_value", "resolve_class", "task_settings", "TaskOutput", "finish", "TaskRun",
           "batch_key", "build", "check", "rebuild", "recheck", "rerun", "run", "solve", "solve_batch"]
