"""Request and response bodies of the API (separate models for what comes in and goes out)."""
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Task = Literal["generate", "translate", "inpaint", "superresolve", "sketch", "paint"]
JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class TaskRequest(BaseModel):
    """Inputs of every task; each task reads the fields it needs (see docs/API.md)."""
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"example": {"class": "dog", "n": 2, "steps": 20}})

    model: str | None = Field(None, description="model id; default: the server's default model")
    class_: str | int | None = Field(None, alias="class", description="class name or index")
    image: str | None = Field(None, description="PNG or JPEG, as a data URL or bare base64")
    mask: str | None = Field(None, description="PNG: white and opaque marks the region")
    feature: int | None = Field(None, description="feature index for paint (see /api/models/{id}/features)")
    factor: int | None = Field(None, description="superresolve upsampling factor, 2 to 8")
    n: int | None = Field(None, description="generate: images per request")
    steps: int | None = None
    step_size: float | None = None
    eps: float | None = None
    seed: int = Field(0, ge=0, le=2**63 - 1)


class JobCreated(BaseModel):
    id: str
    status_url: str
    events_url: str


class TaskResult(BaseModel):
    images: list[str]            # PNG data URLs
    classes: list[int]           # the model's prediction on each result
    class_names: list[str]
    scores: list[float]          # final objective per image
    width: int
    height: int


class JobView(BaseModel):
    id: str
    task: str
    model: str
    status: JobStatus
    step: int
    total: int
    result: TaskResult | None = None
    error: str | None = None


class ModelCard(BaseModel):
    id: str
    dataset: str
    classes: list[str]
    input_size: int
    norm: str | None
    eps: float
    accuracy: float | None = Field(None, description="clean test accuracy in [0,1]")
    robust_accuracy: dict | None = Field(None, description="{norm, eps, steps, acc} of the measured attack")
    num_features: int
    default: bool
    task_defaults: dict[str, dict]


class Feature(BaseModel):
    index: int
    thumbnail: str               # PNG data URL


class Health(BaseModel):
    status: str
    device: str
    models: list[str]
    queue: int                   # jobs waiting
    running: int                 # jobs being solved now
