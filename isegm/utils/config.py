"""Loading `config.yml` (RITM's keys) with command-line overrides.

Library code never reads this file: command-line entry points (train.py,
scripts/evaluate_model.py, demo.py) load it once and pass values down.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import yaml
from easydict import EasyDict

PATH_SUFFIX = "_PATH"
PATH_SECTIONS = ("IMAGENET_PRETRAINED_MODELS",)


def parse_overrides(items: Iterable[str] | None) -> dict:
    """Turn ``["KEY=VALUE", "SECTION.KEY=VALUE"]`` into a flat dict ``{"KEY": "VALUE", ...}``.

    Raises:
        ValueError: an item has no ``=`` or an empty key.
    """
    result = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"config override {item!r} is not of the form KEY=VALUE")
        result[key.strip()] = value.strip()
    return result


def _resolve(value, base: Path):
    if value is None or value == "":
        return value
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def load_config(path: str | Path = "config.yml", overrides: Mapping[str, str] | None = None) -> EasyDict:
    """Read a YAML config and apply overrides.

    Keys ending in ``_PATH`` and the entries of ``IMAGENET_PRETRAINED_MODELS`` become
    :class:`pathlib.Path` objects, resolved against the config file's folder when relative.
    Overrides use the same keys (``GRABCUT_PATH=/data/GrabCut``, or
    ``IMAGENET_PRETRAINED_MODELS.HRNETV2_W18=/w/h18.pth`` for a nested key); override paths are
    resolved against the current working directory.

    Args:
        path: the YAML file.
        overrides: ``{key: value}`` strings, e.g. from :func:`parse_overrides`.

    Returns:
        EasyDict of the configuration (attribute and item access).

    Raises:
        FileNotFoundError: the config file does not exist.
        ValueError: the file is not a YAML mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path} (expected a YAML file like the repo's config.yml)")
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"config file {path} must hold a YAML mapping of KEY: value, got {type(raw).__name__}")

    base = path.resolve().parent
    cfg = {}
    for key, value in raw.items():
        if key.endswith(PATH_SUFFIX):
            cfg[key] = _resolve(value, base)
        elif key in PATH_SECTIONS and isinstance(value, dict):
            cfg[key] = {k: _resolve(v, base) for k, v in value.items()}
        else:
            cfg[key] = value

    cwd = Path.cwd()
    for key, value in (overrides or {}).items():
        section, _, sub = key.partition(".")
        if sub:
            target = cfg.setdefault(section, {})
            target[sub] = _resolve(value, cwd) if section in PATH_SECTIONS else yaml.safe_load(value)
        elif key.endswith(PATH_SUFFIX):
            cfg[key] = _resolve(value, cwd)
        else:
            cfg[key] = yaml.safe_load(value)
    return EasyDict(cfg)


# Registry name of a dataset -> the config.yml key holding its folder.
DATASET_PATH_KEYS = {
    "GrabCut": "GRABCUT_PATH",
    "Berkeley": "BERKELEY_PATH",
    "DAVIS": "DAVIS_PATH",
    "COCO_MVal": "COCO_MVAL_PATH",
    "SBD": "SBD_PATH",
    "SBD_train": "SBD_PATH",
    "PascalVOC": "PASCALVOC_PATH",
    "COCO": "COCO_PATH",
    "LVIS": "LVIS_PATH",
    "ImagesDir": "IMAGES_DIR_PATH",
}


def dataset_path(cfg: Mapping, name: str) -> Path:
    """Folder of dataset ``name`` according to ``cfg`` (see ``DATASET_PATH_KEYS``; case-insensitive).

    Raises:
        ValueError: the dataset name has no config key (the message lists the known names).
        KeyError: the config lacks that key.
    """
    lookup = {k.lower(): v for k, v in DATASET_PATH_KEYS.items()}
    key = lookup.get(name.lower())
    if key is None:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASET_PATH_KEYS)}")
    if key not in cfg or cfg[key] in (None, ""):
        raise KeyError(f"config has no {key} for dataset {name!r}: add it to config.yml or pass --set {key}=PATH")
    return Path(cfg[key])
