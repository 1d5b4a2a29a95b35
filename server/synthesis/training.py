"""Adversarial training and robust evaluation on an image folder.

The adversary is the project's one primitive: `optimize` maximizing the cross-entropy inside
an eps-ball. Runs on one process, or data-parallel under `torchrun` (gloo on CPU, nccl on GPU).
"""
import json
import logging
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

from .data import TensorDataset, augment
from .folders import HOLDOUT, PhotoFolders, read_photo_folders
from .models.loading import load_model
from .models.meta import CIFAR_MEAN, CIFAR_STD, IMAGENET_MEAN, IMAGENET_STD, ModelMeta
from .models.robust_model import RobustModel
from .objectives import cross_entropy
from .constraints import Ball, random_start
from .optimizer import fixed_weights, optimize
from .precision import use_bf16

logger = logging.getLogger(__name__)  # one JSON line per epoch and one for the result (the CLI shows them)


@dataclass
class TrainConfig:
    data_dir: str
    out_dir: str = "runs/model"
    model_id: str = "model"
    arch: str = "cifar_resnet"     # or 'imagenet_resnet' (7x7 stride-2 stem: photographs at 128-224 px)
    depth: int = 18
    width: float = 0.5
    input_size: int = 32
    augment: str | None = None     # 'crop' or 'resized_crop'; default: by architecture
    epochs: int = 16
    batch_size: int = 128          # per process
    lr: float = 0.1                # peak of the one-cycle schedule, for batch 128 in all
    warmup_frac: float = 0.3
    weight_decay: float = 5e-4
    momentum: float = 0.9
    norm: str = "l2"               # threat model: 'l2' or 'linf'
    eps: float = 0.5               # 0 trains a standard (non-robust) model
    attack_steps: int = 1
    attack_step_size: float | None = None   # default 2.5 * eps / attack_steps
    eval_eps: float | None = None  # default: eps (or 0.5 for a non-robust L2 model)
    eval_steps: int = 20
    epoch_eval_steps: int = 5      # PGD steps of the held-out check after each epoch; 0: clean accuracy only
    eval_batch_size: int = 250
    amp: bool | None = None        # bfloat16 autocast; None: where it pays (precision.use_bf16)
    seed: int = 0
    max_train_images: int | None = None   # for quick runs and tests
    holdout: float = HOLDOUT       # share of each class held out when the folder has no train/ and test/
    init: str | None = None        # start from these weights (a model id or file of the same network):
                                   # a fine-tune (other classes: a new head), or a second cycle that
                                   # lengthens a finished run
    mean: list | None = None       # input normalization; default: CIFAR-10's or ImageNet's, by architecture
    std: list | None = None
    command: str = ""

    def resolved(self) -> "TrainConfig":
        """The same run with every by-architecture default made explicit (as the card records it)."""
        photo = self.arch == "imagenet_resnet"
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if photo else (CIFAR_MEAN, CIFAR_STD)
        return replace(self, augment=self.augment or ("resized_crop" if photo else "crop"),
                       mean=list(self.mean or mean), std=list(self.std or std),
                       attack_step_size=self.attack_step_size or 2.5 * self.eps / max(1, self.attack_steps))


@dataclass(frozen=True)
class TrainProgress:
    """Where a run is, after each optimizer step: what a progress bar or a job's event stream shows."""
    epoch: int                     # 1-based, the epoch this step belongs to
    epochs: int
    step: int                      # optimizer steps done in the whole run
    steps: int                     # optimizer steps of the whole run
    loss: float                    # mean training loss of the epoch so far
    heldout_acc: float | None      # clean accuracy on the held-out photos after the last full epoch
    elapsed_s: float               # training time so far (resumed runs included)
    left_s: float | None           # estimated time left, from the pace of this session's steps


class TrainingStopped(Exception):
    """The run was stopped on request (its `progress` callback returned True); the checkpoint of its
    last full epoch is kept, and `resume` continues from it."""


# ---------------------------------------------------------------- distributed set-up

@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    """Single process, or the process group that `torchrun` describes in the environment."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return Dist(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    local = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        dist.init_process_group("nccl")
        device = torch.device("cuda", local)
    else:
        dist.init_process_group("gloo")
        device = torch.device("cpu")
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ["WORLD_SIZE"])))
    return Dist(dist.get_rank(), dist.get_world_size(), device)


def _all_sum(values: list[float], d: Dist) -> list[float]:
    if d.world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return t.tolist()


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else nullcontext()


# ---------------------------------------------------------------- evaluation

@dataclass(frozen=True, kw_only=True)
class Attack:
    """The PGD adversary of training and evaluation: the threat model (`norm`, `eps`), `steps`,
    `step_size` (None: 2.5 * eps / steps) and bfloat16 autocast (`amp`; None: where it pays).
    One object, built by keyword, so that no call can swap its numbers."""
    norm: str
    eps: float
    steps: int
    step_size: float | None = None
    amp: bool | None = None


def adversarial(model: RobustModel, x, y, attack: Attack, seed: int = 0):
    """PGD adversarial examples from a random start in the attack's ball; x itself when eps or steps is 0."""
    if attack.eps == 0 or attack.steps == 0:
        return x
    step_size = attack.step_size or 2.5 * attack.eps / attack.steps
    ball = Ball(attack.norm, attack.eps, center=x)
    return optimize(model, random_start(x, ball, step_size, seed), cross_entropy(y), steps=attack.steps,
                    step_size=step_size, constraint=ball, score_final=False, amp=attack.amp).images


@torch.no_grad()
def _count_correct(model, x, y) -> int:
    return int((model(x).argmax(1) == y).sum())


def evaluate(model: RobustModel, data: TensorDataset, *, norm: str = "l2", eps: float = 0.5, steps: int = 20,
             batch_size: int = 250, amp: bool | None = None, limit: int | None = None, d: Dist | None = None,
             progress: bool = False) -> dict:
    """Clean and PGD-robust accuracy. The attack may use bf16; the final verdict is float32."""
    d = d or Dist(device=model.device)
    n = min(len(data), limit or len(data))
    # A fixed random subset when limited: folders are sorted by class.
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:n] if n < len(data) else torch.arange(n)
    indices = order[d.rank::d.world]
    # Eval mode throughout: in train mode BatchNorm would use (and update its running statistics
    # from) each batch, and test batches from a sorted folder hold a single class.
    attack = Attack(norm=norm, eps=eps, steps=steps, amp=amp)
    with fixed_weights(model):
        clean, robust = _count_clean_and_robust(model, data, indices, attack, batch_size, d, progress)
    clean, robust = _all_sum([clean, robust], d)
    return {"images": n, "clean": clean / n, "robust": {"norm": norm, "eps": eps, "steps": steps, "acc": robust / n}}


def _count_clean_and_robust(model, data, indices, attack: Attack, batch_size: int, d: Dist,
                            progress: bool) -> tuple[int, int]:
    clean = robust = 0
    for start in tqdm(range(0, len(indices), batch_size), disable=not (progress and d.main), desc="eval"):
        idx = indices[start:start + batch_size]
        x = (data.images[idx].to(d.device).float() / 255).contiguous(memory_format=torch.channels_last)
        y = data.labels[idx].to(d.device)
        clean += _count_correct(model, x, y)
        robust += _count_correct(model, adversarial(model, x, y, attack, seed=start), y)
    return clean, robust


# ---------------------------------------------------------------- training

def _lr_at(cfg: TrainConfig, progress: float, world: int) -> float:
    """One cycle: linear warm-up to the peak, then linear decay to zero (progress in [0,1])."""
    peak = cfg.lr * cfg.batch_size * world / 128
    if progress < cfg.warmup_frac:
        return peak * progress / cfg.warmup_frac
    return peak * max(0.0, 1 - progress) / (1 - cfg.warmup_frac)


def build_model(cfg: TrainConfig, classes: list[str]) -> RobustModel:
    meta = ModelMeta(id=cfg.model_id, arch=cfg.arch, depth=cfg.depth, width=cfg.width, classes=classes,
                     mean=list(cfg.mean), std=list(cfg.std), input_size=cfg.input_size,
                     norm=cfg.norm if cfg.eps > 0 else None, eps=cfg.eps)
    return RobustModel.from_meta(meta)


# Devices where the adversary runs on the folded copy during training. The copy is refreshed at every
# step there (the weights change), which still pays on a CPU (BENCHMARKS.md: folding saves real
# batch-norm arithmetic); on a GPU its ~250 small launches cost more than the batch norms they save.
FOLD_IN_TRAINING = ("cpu",)


@contextmanager
def _attack_path(model: RobustModel, device: torch.device):
    if device.type in FOLD_IN_TRAINING:
        yield
        return
    model.fast_path = False   # this model only, for the attack
    try:
        yield
    finally:
        del model.fast_path


def _start_from(model: RobustModel, init: str) -> str | None:
    """Copy the weights of model `init` into `model`, which must be the same network (the input size
    may differ: the network is convolutional). On other classes every weight but the head's is
    copied, and the head starts fresh: a fine-tune of the backbone's features to new classes.
    Returns the base model's id."""
    source = load_model(init, device="cpu")
    mine, theirs = model.meta, source.meta
    for field in ("arch", "depth", "width"):
        if getattr(mine, field) != getattr(theirs, field):
            raise ValueError(f"--init {init}: its {field} is {getattr(theirs, field)!r}, this run's is {getattr(mine, field)!r}")
    state = source.state_dict()
    if mine.classes != theirs.classes:
        own = model.state_dict()
        state = {k: v for k, v in state.items() if own[k].shape == v.shape}   # the head's shape is the classes'
        model.load_state_dict(state, strict=False)
    else:
        model.load_state_dict(state)
    return theirs.id


def _train_epoch(cfg, model, ddp_model, opt, data, epoch, d: Dist, steps_per_epoch: int, report) -> dict:
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
    n = min(len(data), cfg.max_train_images or len(data))
    order = torch.randperm(len(data), generator=gen)[:n]
    mine = order[d.rank::d.world][: steps_per_epoch * cfg.batch_size]
    loss_sum = correct = seen = 0.0
    attack = Attack(norm=cfg.norm, eps=cfg.eps, steps=cfg.attack_steps, step_size=cfg.attack_step_size, amp=cfg.amp)
    for it in range(steps_per_epoch):
        for group in opt.param_groups:
            group["lr"] = _lr_at(cfg, (epoch + it / steps_per_epoch) / cfg.epochs, d.world)
        idx = mine[it * cfg.batch_size:(it + 1) * cfg.batch_size]
        x = augment(data.images[idx].to(d.device).float() / 255, gen, cfg.augment)
        x = x.contiguous(memory_format=torch.channels_last)
        y = data.labels[idx].to(d.device)
        with _attack_path(model, d.device):
            x_adv = adversarial(model, x, y, attack, seed=epoch * 100003 + it)
        with _autocast(d.device, cfg.amp):
            logits = ddp_model(x_adv)
            loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(y)
        correct += float((logits.argmax(1) == y).sum())
        seen += len(y)
        report(loss_sum / seen)
    loss_sum, correct, seen = _all_sum([loss_sum, correct, seen], d)
    return {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_adv_acc": correct / seen}


def _save_checkpoint(path: Path, model, opt, epoch: int, elapsed: float, log: list, cfg: TrainConfig) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
                "elapsed": elapsed, "log": json.dumps(log), "config": json.dumps(asdict(cfg)),
                "classes": json.dumps(model.meta.classes)}, tmp)
    tmp.replace(path)  # atomic: a crash mid-save never leaves a broken checkpoint


class _Reporter:
    """Turns each step into a `TrainProgress` for the caller's callback; a True answer stops the run."""

    def __init__(self, cfg: TrainConfig, callback, steps_per_epoch: int, start_epoch: int, elapsed: float, log: list):
        self.callback, self.cfg, self.per_epoch = callback, cfg, steps_per_epoch
        self.total, self.step = cfg.epochs * steps_per_epoch, start_epoch * steps_per_epoch
        self.first, self.started, self.elapsed = self.step, time.monotonic(), elapsed   # pace: this session's
        self.heldout = log[-1].get("heldout_clean") if log else None

    def __call__(self, loss: float) -> None:
        self.step += 1
        if self.callback is None:
            return
        pace = (time.monotonic() - self.started) / (self.step - self.first)
        p = TrainProgress(epoch=(self.step - 1) // self.per_epoch + 1, epochs=self.cfg.epochs, step=self.step,
                          steps=self.total, loss=loss, heldout_acc=self.heldout,
                          elapsed_s=self.elapsed + time.monotonic() - self.started,
                          left_s=pace * (self.total - self.step))
        if self.callback(p):
            raise TrainingStopped(f"stopped at step {self.step} of {self.total}")


def train(cfg: TrainConfig, resume: bool = False, folders: PhotoFolders | None = None,
          progress: Callable[[TrainProgress], bool | None] | None = None) -> dict:
    """Train, checkpoint every epoch, and write `<out_dir>/<model_id>.safetensors` plus its card.

    `folders`: the photos, read already (default: `read_photo_folders(cfg.data_dir)`). `progress` is
    called after every step; when it returns True the run stops with `TrainingStopped`.
    """
    d = init_distributed()
    cfg = cfg.resolved()
    if cfg.amp is None:  # decided once for the run's batch size, and recorded in the card
        cfg = replace(cfg, amp=use_bf16(d.device, cfg.batch_size))
    torch.manual_seed(cfg.seed)
    torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folders = folders or read_photo_folders(Path(cfg.data_dir), cfg.input_size, holdout=cfg.holdout, seed=cfg.seed)
    train_data, test_data = folders.train, folders.test
    model = build_model(cfg, train_data.classes).to(d.device).to(memory_format=torch.channels_last)
    ddp_model = model if d.world == 1 else torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=cfg.momentum, nesterov=True,
                          weight_decay=cfg.weight_decay)
    ckpt_path, start_epoch, elapsed, log = out / "checkpoint.pt", 0, 0.0, []
    if resume and ckpt_path.exists():   # the checkpoint holds the weights: `init` was only where the run began
        state = torch.load(ckpt_path, map_location=d.device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start_epoch, elapsed, log = state["epoch"], state["elapsed"], json.loads(state["log"])
    elif cfg.init:
        _start_from(model, cfg.init)
    n = min(len(train_data), cfg.max_train_images or len(train_data))
    steps_per_epoch = max(1, n // (cfg.batch_size * d.world))
    eval_eps = cfg.eval_eps if cfg.eval_eps is not None else (cfg.eps or 0.5)
    report = _Reporter(cfg, progress if d.main else None, steps_per_epoch, start_epoch, elapsed, log)
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.time()
        model.train()
        entry = _train_epoch(cfg, model, ddp_model, opt, train_data, epoch, d, steps_per_epoch, report)
        quick = evaluate(model, test_data, norm=cfg.norm, eps=eval_eps, steps=cfg.epoch_eval_steps, amp=cfg.amp,
                         limit=500, d=d)
        elapsed += time.time() - t0
        entry.update(heldout_clean=quick["clean"], heldout_images=quick["images"], elapsed_s=elapsed)
        if cfg.epoch_eval_steps:
            entry[f"heldout_robust_pgd{cfg.epoch_eval_steps}"] = quick["robust"]["acc"]
        report.heldout = quick["clean"]
        log.append(entry)
        if d.main:
            logger.info(json.dumps(entry))
            _save_checkpoint(ckpt_path, model, opt, epoch + 1, elapsed, log, cfg)
        if d.world > 1:
            dist.barrier()
    result = evaluate(model, test_data, norm=cfg.norm, eps=eval_eps, steps=cfg.eval_steps,
                      batch_size=cfg.eval_batch_size, amp=cfg.amp, d=d)
    if d.main:
        _write_final(model, cfg, result, elapsed, log, out, folders)
    if d.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return result


def _write_final(model: RobustModel, cfg: TrainConfig, result: dict, elapsed: float, log: list, out: Path,
                 folders: PhotoFolders) -> None:
    meta = model.meta
    meta.accuracy = result
    meta.dataset = Path(cfg.data_dir).name
    meta.training = {"command": cfg.command, "train_time_s": round(elapsed), "epochs": cfg.epochs,
                     "config": asdict(cfg), "log": log, "torch": torch.__version__,
                     "threads": torch.get_num_threads(), "device": str(model.device),
                     "data": {"files": folders.files, "used": len(folders.train) + len(folders.test),
                              "skipped": len(folders.skipped), "sha256": folders.sha256, "layout": folders.layout,
                              "train": len(folders.train), "heldout": len(folders.test), "per_class": folders.counts}}
    meta.source = "trained by robust-canvas"
    state = {k: v.detach().float().contiguous().cpu() for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    save_file(state, str(out / f"{meta.id}.safetensors"))
    meta.save(out / f"{meta.id}.json")
    logger.info(json.dumps({"model": str(out / f"{meta.id}.safetensors"), **result}))


def load_training_checkpoint(path: Path) -> RobustModel:
    """The model of a run in progress (`<out_dir>/checkpoint.pt`), in eval mode."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    data = json.loads(state["config"])
    known = {f for f in TrainConfig.__dataclass_fields__}
    cfg = TrainConfig(**{k: v for k, v in data.items() if k in known}).resolved()
    if "classes" in state:
        classes = json.loads(state["classes"])
    else:   # checkpoints written before the classes were kept in them
        classes = sorted(d.name for d in (Path(cfg.data_dir) / "train").iterdir() if d.is_dir())
    model = build_model(cfg, classes)
    model.load_state_dict(state["model"])
    return model.eval()
