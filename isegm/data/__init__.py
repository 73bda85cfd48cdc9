"""Data pipeline: samples, datasets, click simulation and training augmentations."""
from .base import ISDataset
from .points_sampler import MultiPointSampler
from .sample import DSample

__all__ = ["DSample", "ISDataset", "MultiPointSampler"]
