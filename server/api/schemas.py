"""Request and response bodies of the API (separate models for what comes in and goes out)."""
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class RerunRequest(BaseModel):
    """A PNG made by robust-canvas (the API, the CLI or the canvas): its recipe is run again."""
    model_config = ConfigDict(extra="forbid")

    png: str = Field(..., description="the PNG, as a data URL or bare base64, with its robust-canvas text chunks")


class JobCreated(BaseModel):
    id: str
    status_url: str
    events_url: str


class Ticket(BaseModel):
    ticket: str = Field(description="pass it as `?ticket=` to the job's event stream")
    expires_in: int = Field(description="seconds it stays good for opening the stream")


class TaskResult(BaseModel):
    images: list[str]            # PNG data URLs, each carrying the job's recipe (see docs/API.md)
    classes: list[int]           # the model's prediction on each result
    class_names: list[str]
    scores: list[float | None]   # final objective per image; null where it is not finite
    notes: list[str] = []        # per image, what the task decided ("": nothing; inpaint: an unsure guess, fill only)
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
    recipe: dict = Field(description="what reproduces the result: task, model and card hash, seed, every "
                                     "effective setting, and the inputs (images as references)")


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
    task_defaults: dict[str, dict] = Field(description="effective default settings per task (super-resolution's "
                                                       "step_size and eps for a result at input_size; they scale "
                                                       "with the result's side)")
    card_hash: str
    own: bool = Field(False, description="a model a person made (POST /api/trainings, `robust-canvas train --init`): "
                                        "DELETE /api/models/{id} removes it")


class TaskField(BaseModel):
    name: str
    kind: Literal["image", "mask", "class", "feature", "int", "float", "choice"]
    help: str
    required: bool
    default: int | float | str | None
    minimum: float | None
    maximum: float | None
    positive: bool
    many: bool
    choices: list[str] = Field(description="kind choice: the names it may take")
    setting: bool = Field(description="a setting whose default is in the model card's task_defaults")


class TaskInfo(BaseModel):
    id: str
    summary: str
    result: str
    fields: list[TaskField]
    scaled: list[str] = Field(description="settings whose defaults scale with the result's side / input size")


class Error(BaseModel):
    detail: str


class FieldErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrors(BaseModel):
    detail: list[FieldErrorItem]


class LinkedClass(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_: str = Field(alias="class")
    weight: float = Field(description="the last layer's weight from this feature to the class")
    drive: float | None = Field(None, description="weight x the feature's mean activation on the class's training "
                                                  "images (null: named from the weights alone)")


class Feature(BaseModel):
    index: int
    thumbnail: str               # PNG data URL: the synthetic swatch (painting it from a gray start)
    name: str | None = Field(None, description="e.g. 'church · grey vertical stripes'; null: the model has no "
                                               "names (`robust-canvas features name`)")
    group: str | None = Field(None, description="the class the feature drives most (null: none)")
    rank: int | None = Field(None, description="1 = its group's strongest feature")
    classes: list[LinkedClass] = Field([], description="the classes it drives, strongest first")
    colour: str | None = None
    texture: str | None = None
    crops: list[str] = Field([], description="JPEG data URLs: crops of training photos where the feature fires most")


class Part(BaseModel):
    up: bool
    detail: str = Field(description="how many are up, or why it is down")


class Health(BaseModel):
    status: str = Field(description='"ok", or "unhealthy" (answered with 503) when no job can run now')
    device: str
    models: list[str]
    queue: int                   # jobs waiting
    running: int                 # jobs being solved now
    store: bool = Field(description="whether results are kept (GET /api/results); false with --no-store")
    parts: dict[str, Part] = Field(default_factory=dict, description="the server's parts (its worker threads; "
                                   "with Ray the job store and the model workers): up, and how or why not")


class ResultItem(BaseModel):
    """One image of a finished job, as the result store keeps it (GET /api/results)."""
    id: str
    job_id: str
    index: int = Field(description="the image's index in its job's result")
    task: str
    model: str
    class_: str = Field(alias="class", description="the model's verdict on the image (its class name)")
    seed: int
    created: str = Field(description="when the result was saved, ISO 8601 UTC")
    width: int
    height: int
    bytes: int = Field(description="the PNG's size")
    score: float | None
    png: str = Field(description="the PNG's URL (with its recipe in its text chunks)")
    recipe: dict | None = Field(None, description="GET /api/results/{id} only: the job's recipe")
    owner: str = Field(description="the person who made it")
    public: bool = Field(description="whether anyone on the server may open it by its id (its owner shares it: "
                                     "PATCH /api/results/{id})")


class ResultChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public: bool = Field(description="true: anyone on the server may open it by its id; false: its owner only")


class ResultPage(BaseModel):
    items: list[ResultItem]
    next: str | None = Field(description="the cursor of the next page (pass it as `cursor`); null on the last")


class UploadCreated(BaseModel):
    id: str
    url: str = Field(description="where to send its photos (POST) and read its counts (GET)")


class PhotoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("photo", max_length=255, description="the photo's file name, for messages only")
    data: str = Field(description="the photo (any format Pillow reads), as a data URL or bare base64")


class PhotoBatch(BaseModel):
    """Photos of one class, as many as fit in one request body (max_body_bytes)."""
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    class_: str = Field(alias="class", min_length=1, max_length=255,
                        description="the class's name; cleaned into letters, digits, '_' and '-'")
    photos: list[PhotoIn] = Field(min_length=1)


class UploadView(BaseModel):
    id: str
    classes: dict[str, int] = Field(description="photos per (cleaned) class name")
    files: int
    bytes: int
    max_files: int
    max_bytes: int


class TrainingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload: str = Field(description="the upload set's id (POST /api/uploads)")
    name: str = Field(min_length=1, max_length=255, description="the new model's id (cleaned like a class name)")
    base: str | None = Field(None, description="the served model to fine-tune (default: the server's default model)")
    epochs: int | None = Field(None, ge=1, description="default 12; at most max_training_epochs")


class TrainingView(BaseModel):
    id: str
    model: str = Field(description="the id the model has once made")
    base: str
    upload: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    position: int = Field(description="queued: 1 = next; else 0")
    stage: str | None = Field(description="reading photos, training, measuring robustness, fitting seeds, "
                                          "naming features, painting swatches")
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float | None
    heldout_acc: float | None = Field(description="clean accuracy on the held-out photos after the last epoch")
    elapsed_s: float | None
    left_s: float | None = Field(description="estimated seconds of training left")
    error: str | None
    attempts: int
    owner: str = Field(description="the person whose training (and model) it is")
    events_url: str
