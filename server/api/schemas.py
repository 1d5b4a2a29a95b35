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


class Health(BaseModel):
    status: str
    device: str
    models: list[str]
    queue: int                   # jobs waiting
    running: int                 # jobs being solved now
    store: bool = Field(description="whether results are kept (GET /api/results); false with --no-store")


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
