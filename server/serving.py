"""Start-up shared by the web app (api/app.py) and `robust-canvas serve` (cli/serve.py): the data dir,
the result store and the models to serve, none of it HTTP."""
import functools

from .settings import Settings
from .store.files import default_data_dir
from .store.sqlite import ResultStore
from .synthesis.models.loading import (Card, load_model, own_model_ids, read_card, resolve_model_path,
                                       served_model_ids)
from .synthesis.models.robust_model import RobustModel


def load_served(settings: Settings) -> dict[str, RobustModel | Card]:
    """What the front end holds of each model to serve, by card id (the first is the default): the
    model itself, or with Ray only its card (the workers load the weights: a person's model, in the
    data dir, from its file's path, which a worker's node may lack: ray/manager.py sends its files)."""
    load = read_card if settings.ray else functools.partial(load_model, device=settings.device)
    own = set(own_model_ids(settings.data_dir))
    loaded = {}
    for name in settings.model_ids or served_model_ids(settings.data_dir):   # own models: in the data dir
        if settings.ray and name in own:
            name = str(resolve_model_path(name, settings.data_dir))
        model = load(name, data_dir=settings.data_dir)
        if model.meta.id in loaded:
            raise ValueError(f"two models share the id {model.meta.id!r}")
        loaded[model.meta.id] = model
    return loaded


def with_data_dir(settings: Settings) -> Settings:
    """The settings with `data_dir` resolved (the default per-user dir when none is given)."""
    if settings.store and settings.data_dir is None:
        return settings.model_copy(update={"data_dir": default_data_dir()})
    return settings


def open_store(settings: Settings) -> ResultStore | None:
    """The result store on `settings.data_dir`, or None with `store` off; StoreError (an OSError)
    naming the dir or the database file when it cannot be used."""
    if not settings.store:
        return None
    return ResultStore(settings.data_dir, retain_count=settings.retain_count, retain_days=settings.retain_days,
                       retain_bytes=settings.retain_bytes)
