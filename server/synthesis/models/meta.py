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
    # per task (and "palette"): settings tuned for this model; each task's reference fills the rest
    # (tasks.task_defaults, palette.palette_settings)
    task_defaults: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)       # command, time, config
    source: str = ""
    # card_hash of this model's earlier cards whose recipes rerun to the same pixels with this one: they
    # differed only in task_defaults, which every recipe records (tasks.rerun accepts their recipes)
    earlier_cards: list[str] = field(default_factory=list)

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
