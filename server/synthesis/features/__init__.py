"""Named features: for every representation component a name, the classes it drives and crops of real photos."""
from .names import FeatureNames, NamedFeature, find_feature_names, resolve_feature, resolve_features, top_feature

__all__ = ["FeatureNames", "NamedFeature", "find_feature_names", "resolve_feature", "resolve_features", "top_feature"]
