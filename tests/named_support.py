"""Feature names for tiny random models, made the way `robust-canvas features name` makes them."""
import torch

from server.synthesis.data import TensorDataset
from server.synthesis.features.describe import describe_features, swatch_sheet
from server.synthesis.features.names import FeatureNames, names_path


def random_photos(model, n: int = 40, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    size = model.meta.input_size
    images = (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8)
    classes = list(model.meta.classes)
    return TensorDataset(images, torch.arange(n) % len(classes), classes)


def name_tiny(model, folder, swatches: torch.Tensor | None = None) -> FeatureNames:
    """Names and a sheet for `model` under `folder` (as beside its weights), attached to the model."""
    data = random_photos(model)
    files = [f"{model.meta.classes[int(c)]}/{i}.png" for i, c in enumerate(data.labels)]
    names, crops = describe_features(model, data, files)
    names.source["swatches"] = swatches is not None
    sheet = swatch_sheet(names, swatches, crops, tile=16)
    names.save(names_path(folder / f"{model.meta.id}.safetensors"), sheet)
    model.feature_names = names
    return names
