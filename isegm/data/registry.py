"""The one dataset registry: name -> loader, config key, layout, splits (training and evaluation).

Every entry is usable for training (:func:`get_dataset`) and for the NoC evaluation
(:func:`get_eval_dataset`, which adds the entry's ``eval_kwargs``, e.g. one object per sample
for COCO-json). Names are matched case-insensitively; RITM's spellings are accepted as aliases
(``SBD_Train``, ``COCO_MVAL``, ``PascalVOC``...). An unknown name raises :class:`UserError` naming
the closest known name and listing all of them.

Library code never reads config.yml: :func:`dataset_path` takes the loaded mapping from the caller.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Tuple

from isegm.errors import UserError, closest

__all__ = ["DatasetSpec", "REGISTRY", "resolve", "get_dataset", "get_eval_dataset", "dataset_path", "known_names",
           "dataset_path_overrides"]


@dataclass(frozen=True)
class DatasetSpec:
    """One registry entry.

    Attributes:
        name: canonical name (as printed in tables).
        loader: ``module:Class`` of the loader in :mod:`isegm.data.datasets` (imported on use).
        config_key: config.yml key holding the dataset folder (file for CocoJson).
        layout: expected files, one line.
        splits: the split(s) this name reads.
        kwargs: loader keyword arguments the name implies (override-able by the caller).
        eval_kwargs: extra keyword arguments for evaluation (single-object samples).
        aliases: other accepted spellings (matched case-insensitively too).
    """

    name: str
    loader: str
    config_key: str
    layout: str
    splits: Tuple[str, ...]
    kwargs: Mapping = field(default_factory=dict)
    eval_kwargs: Mapping = field(default_factory=dict)
    aliases: Tuple[str, ...] = ()

    def loader_class(self) -> Callable:
        module, _, cls = self.loader.partition(":")
        import importlib

        return getattr(importlib.import_module(f"isegm.data.datasets.{module}"), cls)


_SPECS = (
    DatasetSpec("GrabCut", "grabcut:GrabCutDataset", "GRABCUT_PATH",
                "data_GT/<name>.{jpg,bmp} images, boundary_GT/<name>.{bmp,png} masks (128 = ignored)", ("test",)),
    DatasetSpec("Berkeley", "grabcut:BerkeleyDataset", "BERKELEY_PATH",
                "images/<id>.{jpg,png} images, masks/<id>.png masks", ("test",)),
    DatasetSpec("DAVIS", "davis:DavisDataset", "DAVIS_PATH", "img/<name>.jpg images, gt/<name>.png masks", ("test",)),
    DatasetSpec("COCO_MVal", "davis:COCOMValDataset", "COCO_MVAL_PATH",
                "img/<name>.jpg images, gt/<name>.png masks", ("val",), aliases=("COCO_MVAL", "COCOMVal")),
    DatasetSpec("SBD", "sbd:SBDEvaluationDataset", "SBD_PATH",
                "img/<name>.jpg, inst/<name>.mat, val.txt (one sample per instance)", ("val",), aliases=("SBD_val",)),
    DatasetSpec("SBD_train", "sbd:SBDDataset", "SBD_PATH", "img/<name>.jpg, inst/<name>.mat, train.txt", ("train",),
                kwargs={"split": "train"}, aliases=("SBD_Train",)),
    DatasetSpec("PascalVOC", "pascalvoc:PascalVocDataset", "PASCALVOC_PATH",
                "JPEGImages/, SegmentationObject/, ImageSets/Segmentation/val.txt (one sample per instance)",
                ("val",), kwargs={"split": "val", "one_object_per_sample": True}, aliases=("PascalVOC_val",)),
    DatasetSpec("PascalVOC_train", "pascalvoc:PascalVocDataset", "PASCALVOC_PATH",
                "JPEGImages/, SegmentationObject/, ImageSets/Segmentation/train.txt", ("train",),
                kwargs={"split": "train"}, eval_kwargs={"one_object_per_sample": True}),
    DatasetSpec("ImagesDir", "images_dir:ImagesDirDataset", "IMAGES_DIR_PATH",
                "images/<name>.<ext>, masks/<name>.png or masks/<name>_<k>.png", ("all",)),
    DatasetSpec("CocoJson", "coco_json:CocoJsonDataset", "COCO_PATH",
                "<file>.json (COCO instances) + images folder", ("all",), eval_kwargs={"one_object_per_sample": True},
                aliases=("COCO",)),
    DatasetSpec("CocoLvis", "coco_lvis:CocoLvisDataset", "LVIS_v1_PATH",
                "<split>/hannotation.pickle, <split>/images/<id>.jpg, <split>/masks/<id>.pickle (RITM's COCO+LVIS)",
                ("train", "val"), aliases=("COCO_LVIS", "COCO+LVIS")),
    DatasetSpec("LVIS", "coco_json:LvisDataset", "LVIS_PATH",
                "<split>/lvis_<split>.json or annotations/lvis_v1_<split>.json + images", ("train", "val"),
                eval_kwargs={"one_object_per_sample": True}, aliases=("LVIS_v1",)),
)

REGISTRY: dict = {spec.name: spec for spec in _SPECS}
_LOOKUP = {}
for _spec in _SPECS:
    for _n in (_spec.name,) + _spec.aliases:
        _LOOKUP[_n.lower()] = _spec


def known_names() -> list:
    """Canonical names, in registry order."""
    return list(REGISTRY)


def resolve(name: str) -> DatasetSpec:
    """The entry for ``name`` (case-insensitive, aliases accepted).

    Raises:
        UserError: unknown name; the message suggests the closest known name and lists them all.
    """
    spec = _LOOKUP.get(str(name).strip().lower())
    if spec is None:
        spellings = list(REGISTRY) + [a for s in _SPECS for a in s.aliases]
        raise UserError(f"unknown dataset {name!r}{closest(str(name), spellings)} "
                        f"(known datasets: {', '.join(REGISTRY)})")
    return spec


def get_dataset(name: str, path, **kwargs):
    """Build the loader registered as ``name`` from ``path`` (training samples: all objects).

    Args:
        name: registry name or alias (case-insensitive).
        path: dataset folder (a json file or folder for CocoJson).
        **kwargs: loader / :class:`isegm.data.base.ISDataset` options; they override the entry's defaults.

    Raises:
        UserError: unknown name.
        FileNotFoundError: the folder is missing (the loader names the path and the layout).
    """
    spec = resolve(name)
    params = dict(spec.kwargs)
    params.update(kwargs)
    return spec.loader_class()(Path(path), **params)


def get_eval_dataset(name: str, path, **kwargs):
    """As :func:`get_dataset` with the entry's evaluation options (single-object samples)."""
    spec = resolve(name)
    params = dict(spec.eval_kwargs)
    params.update(kwargs)
    return get_dataset(spec.name, path, **params)


def dataset_path(cfg: Mapping, name: str) -> Path:
    """Folder of dataset ``name`` in a loaded config mapping (its entry's ``config_key``).

    Raises:
        UserError: unknown name, or the config has no value for the key (the message names the key).
    """
    spec = resolve(name)
    value = cfg.get(spec.config_key) if cfg is not None else None
    if value is None or value == "":
        raise UserError(f"no folder for dataset {spec.name}: set {spec.config_key} in config.yml "
                        f"or pass --set {spec.config_key}=PATH")
    return Path(value)


def dataset_path_overrides(items) -> dict:
    """``--dataset-path NAME=PATH`` items -> ``{config key: PATH}`` config overrides (later items win).

    Raises:
        UserError: an item without ``=`` or with an empty path, or an unknown dataset name.
    """
    overrides = {}
    for item in items:
        name, sep, path = str(item).partition("=")
        if not sep or not path.strip():
            raise UserError(f"--dataset-path {item!r}: expected NAME=PATH")
        overrides[resolve(name).config_key] = path.strip()
    return overrides
