"""Dataset loaders. The name -> loader table lives in :mod:`isegm.data.registry`.

``get_dataset(name, path, **kwargs)`` is kept as a thin alias of
:func:`isegm.data.registry.get_dataset` (case-insensitive names, RITM aliases accepted).
"""
from __future__ import annotations

from pathlib import Path

from ..base import ISDataset
from .coco_json import CocoJsonDataset, LvisDataset
from .davis import COCOMValDataset, DavisDataset
from .grabcut import BerkeleyDataset, GrabCutDataset
from .images_dir import ImagesDirDataset
from .pascalvoc import PascalVocDataset
from .sbd import SBDDataset, SBDEvaluationDataset

__all__ = [
    "get_dataset",
    "GrabCutDataset", "BerkeleyDataset", "DavisDataset", "COCOMValDataset", "SBDDataset",
    "SBDEvaluationDataset", "PascalVocDataset", "ImagesDirDataset", "CocoJsonDataset", "LvisDataset",
]


def get_dataset(name: str, path: str | Path, **kwargs) -> ISDataset:
    """Alias of :func:`isegm.data.registry.get_dataset` (raises its UserError / FileNotFoundError)."""
    from ..registry import get_dataset as _get

    return _get(name, path, **kwargs)
