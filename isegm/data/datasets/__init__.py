"""Dataset loaders and the name -> loader registry used by training and evaluation scripts.

``get_dataset('GrabCut', path)`` builds a loader by name (case-insensitive); extra keyword
arguments go to the loader (and :class:`isegm.data.base.ISDataset`).  Evaluation names give
single-object samples (``SBD`` = SBD val instances, ``PascalVOC`` = VOC val instances);
``SBD_train`` / ``PascalVOC_train`` / ``ImagesDir`` / ``CocoJson`` / ``LVIS`` give all objects
of an image, for training.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from ..base import ISDataset
from .coco_json import CocoJsonDataset, LvisDataset
from .davis import COCOMValDataset, DavisDataset
from .grabcut import BerkeleyDataset, GrabCutDataset
from .images_dir import ImagesDirDataset
from .pascalvoc import PascalVocDataset
from .sbd import SBDDataset, SBDEvaluationDataset

__all__ = [
    "DATASETS", "get_dataset",
    "GrabCutDataset", "BerkeleyDataset", "DavisDataset", "COCOMValDataset", "SBDDataset",
    "SBDEvaluationDataset", "PascalVocDataset", "ImagesDirDataset", "CocoJsonDataset", "LvisDataset",
]

DATASETS: dict[str, Callable[..., ISDataset]] = {
    "GrabCut": GrabCutDataset,
    "Berkeley": BerkeleyDataset,
    "DAVIS": DavisDataset,
    "COCO_MVal": COCOMValDataset,
    "SBD": SBDEvaluationDataset,
    "SBD_train": partial(SBDDataset, split="train"),
    "PascalVOC": partial(PascalVocDataset, split="val", one_object_per_sample=True),
    "PascalVOC_train": partial(PascalVocDataset, split="train"),
    "ImagesDir": ImagesDirDataset,
    "CocoJson": CocoJsonDataset,
    "LVIS": LvisDataset,
}


def get_dataset(name: str, path: str | Path, **kwargs) -> ISDataset:
    """Build the dataset registered as ``name`` (case-insensitive) from ``path``.

    Args:
        name: a key of :data:`DATASETS`.
        path: dataset folder (or json file for CocoJson).
        **kwargs: loader / ISDataset options; they override the registry's defaults.

    Raises:
        ValueError: unknown name (the message lists the known names).
        FileNotFoundError: the folder is missing (names the path and the expected layout).
    """
    by_lower = {key.lower(): key for key in DATASETS}
    key = by_lower.get(str(name).lower())
    if key is None:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return DATASETS[key](path, **kwargs)
