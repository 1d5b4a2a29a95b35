"""One Settings object for the server: limits, models and network options.

Every field can be set from the environment as ROBUST_CANVAS_<FIELD> (upper case; lists
comma-separated), e.g. ROBUST_CANVAS_MAX_STEPS=500; `robust-canvas serve` flags override both.
"""
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

ENV_PREFIX = "ROBUST_CANVAS_"
FRONTEND_DIR = Path(__file__).resolve().parents[1] / "frontend"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # models and device
    model_ids: tuple[str, ...] = ()          # models to keep loaded, the first is the default; () = the shipped robust ones
    device: str | None = None                # None: cuda when available, else cpu
    # network and people (docs/API.md, "People")
    token: str | None = None                 # a single admin's bearer token (people: `robust-canvas users add`)
    host: str = "127.0.0.1"                  # where the server listens: beyond loopback, someone must be let in
    insecure_open: bool = False              # beyond loopback with nobody configured, serve everyone as one person
    cors_origins: tuple[str, ...] = ()       # CORS is off unless origins are given
    frontend_dir: Path = FRONTEND_DIR
    # request limits
    max_body_bytes: int = Field(8 * 1024 * 1024, gt=0)      # a bigger request body is refused (413)
    max_image_pixels: int = Field(2048 * 2048, gt=0)        # larger images are refused before decoding
    max_n: int = Field(64, gt=0)                            # images per generate request
    max_steps: int = Field(1000, ge=0)                      # optimizer steps per job
    # jobs
    max_queue: int = Field(32, gt=0)          # queued jobs (with fair share, split among the people queuing); then 429
    max_batch: int = Field(16, gt=0)          # images solved together in one optimizer run (a larger job runs alone)
    fair_share: bool = True                   # people take turns (rules.py); False: first come, first served
    job_timeout_s: float = Field(300.0, gt=0)  # a running job past this fails with a clear error
    job_ttl_s: float = Field(900.0, gt=0)      # finished jobs are forgotten after this
    preview_every: int = Field(5, gt=0)       # steps between two previews
    preview_max_images: int = Field(16, gt=0)
    thumbnail_size: int = Field(64, ge=8)     # feature palette swatches are at most this many pixels a side
    warm_palettes: bool = True                # compute the paint palettes in the background at start-up
    palette_wait_s: float = Field(2.0, ge=0)  # a palette request waits this long for a computation, then 503
    # the result store (docs/API.md, "History"): jobs and results in SQLite, PNGs under data_dir/outputs
    store: bool = True                        # False (--no-store): no history; jobs live in memory only
    data_dir: Path | None = None              # None: $XDG_DATA_HOME/robust-canvas or ~/.local/share/robust-canvas
    retain_count: int = Field(0, ge=0)        # keep at most this many results (oldest deleted first); 0: no limit
    retain_days: float = Field(0, ge=0)       # delete results older than this; 0: no limit
    retain_bytes: int = Field(0, ge=0)        # keep at most this many bytes of PNGs; 0: no limit
    # a person's own models (docs/API.md, "Your own model"): photos uploaded to <data dir>/uploads, trained one at a time
    max_upload_files: int = Field(2000, gt=0)                # photos in one upload set (413 beyond)
    max_upload_bytes: int = Field(512 * 1024 * 1024, gt=0)   # bytes of photos in one upload set (413 beyond)
    max_upload_pixels: int = Field(50_000_000, gt=0)         # pixels of one uploaded photo (422 beyond), from its header
    max_trainings_queued: int = Field(2, ge=0)               # trainings waiting behind the running one (429 beyond)
    max_training_epochs: int = Field(100, gt=0)              # epochs one training may ask for (422 beyond)
    training_threads: int | None = Field(None, gt=0)         # torch threads of a training; None: half the cores
    # Ray (docs/DEPLOY.md): None = the embedded worker threads, no Ray needed
    ray: str | None = None                    # "auto": start a local Ray; else the address of a cluster to join
    ray_workers: int | None = Field(None, gt=0)      # None: one per GPU, else one per ray_cpus_per_worker cores
    ray_cpus_per_worker: int = Field(1, gt=0)        # CPU cores of a worker on a node without GPUs
    ray_stall_s: float = Field(60.0, gt=0)           # a worker whose job shows no step for this long is killed
    ray_training_cpus: float = Field(1.0, gt=0)      # CPU cores (and torch threads) of a training on the cluster
    ray_namespace: str = "robust-canvas"      # front ends with the same namespace share one job store

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Settings":
        """Defaults, then ROBUST_CANVAS_* variables, then the given overrides (None = not given)."""
        environ = os.environ if environ is None else environ
        values = {}
        for name, field in cls.model_fields.items():
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = _parse_list(raw) if _is_list(field.annotation) else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _is_list(annotation) -> bool:
    return getattr(annotation, "__origin__", None) is tuple


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())
