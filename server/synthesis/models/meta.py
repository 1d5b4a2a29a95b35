"""Model card: the metadata that travels with the weights (timm's PretrainedCfg, in spirit)."""
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# Restricted ImageNet: 9 super-classes, each a range of ImageNet classes.
RESTRICTED_IMAGENET_CLASSES = ["dog", "cat", "frog", "turtle", "bird", "primate", "fish", "crab", "insect"]
RESTRICTED_IMAGENET_MEAN, RESTRICTED_IMAGENET_STD = (0.4717, 0.4499, 0.3837), (0.2600, 0.2516, 0.2575)
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

# The task settings tuned on the 32-px CIFAR-10 model (docs/TASKS.md). A card is completed from
# them when it lacks a task or a setting (imported checkpoints, new trainings): eps and step size
# scaled by input_size/32, since an L2 radius grows with the square root of the pixel count.
# `rule` and `patience`: the update rule (steps.RULES) and early stopping (optimizer.optimize);
# inpainting's `fill` and `known`: see tasks.inpaint_problem.
REFERENCE_SIZE = 32
REFERENCE_TASK_DEFAULTS = {
    "generate": {"steps": 20, "step_size": 1.0, "eps": 30.0, "rule": "momentum", "patience": 3, "temperature": 2.0},
    "translate": {"steps": 30, "step_size": 0.5, "eps": 6.0, "rule": "pgd", "patience": 3},
    "inpaint": {"steps": 20, "step_size": 0.2, "eps": 1.0, "penalty_weight": 10.0, "rule": "momentum", "patience": 3,
                "fill": "harmonic", "known": "exact"},
    "superresolve": {"steps": 30, "step_size": 0.6, "eps": 4.0, "rule": "pgd", "patience": 3},
    "sketch": {"steps": 30, "step_size": 1.0, "eps": 10.0, "rule": "pgd", "patience": 0},
    "paint": {"steps": 30, "step_size": 1.0, "eps": 10.0, "feature_weight": 0.1, "penalty_weight": 90.0,
              "rule": "momentum", "patience": 0},
    "palette": {"steps": 16, "step_size": 0.5, "eps": 8.0},
}
_SIZE_SCALED = ("step_size", "eps")


def reference_task_defaults(input_size: int) -> dict:
    scale = input_size / REFERENCE_SIZE
    return {task: {k: v * scale if k in _SIZE_SCALED else v for k, v in settings.items()}
            for task, settings in REFERENCE_TASK_DEFAULTS.items()}


@dataclass
class ModelMeta:
    id: str
    arch: str                  # 'cifar_resnet' (3x3 stem) or 'imagenet_resnet' (7x7 stride-2 stem, torchvision names)
    depth: int
    classes: list[str]
    mean: list[float]
    std: list[float]
    input_size: int
    dataset: str = "custom"
    width: float = 1.0         # channel multiplier of every stage
    bottleneck_width: float = 1.0  # extra widening of bottleneck blocks' 3x3 conv (wide_resnet50_2: 2.0)
    num_features: int = 0
    norm: str | None = None    # the threat model it was trained against: 'l2', 'linf' or None
    eps: float = 0.0
    accuracy: dict = field(default_factory=dict)       # {"clean": .., "robust": {"norm","eps","steps","acc"}}
    task_defaults: dict = field(default_factory=dict)  # per task: steps, step_size, eps, weights (completed)
    training: dict = field(default_factory=dict)       # command, time, config
    source: str = ""

    def __setattr__(self, name, value):
        # task_defaults always holds every task's settings: the card's where it has them, else the
        # size-scaled reference (input_size is set before it: fields are assigned in order).
        if name == "task_defaults":
            reference = reference_task_defaults(self.input_size)
            value = {task: {**reference[task], **value.get(task, {})} for task in reference}
        super().__setattr__(name, value)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelMeta":
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if d.get("arch") == "torchvision_resnet":  # cards written before the two layouts got their names
            d["arch"] = "imagenet_resnet"
        return cls(**d)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "ModelMeta":
        return cls.from_dict(json.loads(Path(path).read_text()))
