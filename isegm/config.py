"""Loading `config.yml` (RITM's keys) with command-line overrides, checked against the known keys.

Library code never reads this file: command-line entry points (train.py,
scripts/evaluate_model.py, demo.py) load it once and pass values down.

Known keys (:data:`KNOWN_KEYS`): every ``*_PATH`` key is a folder/file path (resolved against the
config's folder, overrides against the working directory); ``IMAGENET_PRETRAINED_MODELS`` is a
mapping NAME -> path. An unknown key, in the file or in an override, raises :class:`UserError`
naming it and the closest known key; a value of the wrong type too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import yaml
from easydict import EasyDict

from isegm.errors import UserError, closest

PATH_SUFFIX = "_PATH"
PATH_SECTIONS = ("IMAGENET_PRETRAINED_MODELS",)

# key -> type: "path" (str path, may be empty/null) or "paths" (mapping name -> path).
KNOWN_KEYS = {
    "INTERACTIVE_MODELS_PATH": "path", "EXPS_PATH": "path",
    "GRABCUT_PATH": "path", "BERKELEY_PATH": "path", "DAVIS_PATH": "path", "COCO_MVAL_PATH": "path",
    "SBD_PATH": "path", "PASCALVOC_PATH": "path", "COCO_PATH": "path", "LVIS_PATH": "path",
    "LVIS_v1_PATH": "path", "IMAGES_DIR_PATH": "path",
    "IMAGENET_PRETRAINED_MODELS": "paths",
}


def _check_key(key: str, where: str) -> None:
    if key not in KNOWN_KEYS:
        raise UserError(f"{where}: unknown config key {key!r}{closest(key, KNOWN_KEYS)} "
                        f"(known keys: {', '.join(KNOWN_KEYS)})")


def _check_path_value(key: str, value, where: str) -> None:
    if value is not None and not isinstance(value, (str, Path)):
        raise UserError(f"{where}: {key} must be a path (string), got {type(value).__name__} {value!r}")


def parse_overrides(items: Iterable[str] | None) -> dict:
    """Turn ``["KEY=VALUE", "SECTION.KEY=VALUE"]`` into a flat dict ``{"KEY": "VALUE", ...}``.

    Raises:
        UserError: an item has no ``=`` or an empty key.
    """
    result = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"config override {item!r} is not of the form KEY=VALUE")
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
        UserError: the file is not a YAML mapping, or a key is unknown or its value has the wrong type.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path} (expected a YAML file like the repo's config.yml)")
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    if not isinstance(raw, dict):
        raise UserError(f"config file {path} must hold a YAML mapping of KEY: value, got {type(raw).__name__}")
    for key, value in raw.items():
        _check_key(str(key), f"config file {path}")
        if KNOWN_KEYS[key] == "path":
            _check_path_value(key, value, f"config file {path}")
        elif not isinstance(value, dict):
            raise UserError(f"config file {path}: {key} must be a mapping NAME: path, got {type(value).__name__}")
        else:
            for sub, v in value.items():
                _check_path_value(f"{key}.{sub}", v, f"config file {path}")

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
        _check_key(section, f"override {key}={value}")
        if sub and KNOWN_KEYS[section] != "paths":
            raise UserError(f"override {key}={value}: {section} is not a section (no '.' keys)")
        if not sub and KNOWN_KEYS[section] == "paths":
            raise UserError(f"override {key}={value}: {section} is a mapping; set one entry as {section}.NAME=PATH")
        if sub:
            target = cfg.setdefault(section, {})
            target[sub] = _resolve(value, cwd) if section in PATH_SECTIONS else yaml.safe_load(value)
        elif key.endswith(PATH_SUFFIX):
            cfg[key] = _resolve(value, cwd)
        else:
            cfg[key] = yaml.safe_load(value)
    return EasyDict(cfg)


def dataset_path(cfg: Mapping, name: str) -> Path:
    """Folder of dataset ``name`` (see :func:`isegm.data.registry.dataset_path`)."""
    from isegm.data.registry import dataset_path as _dataset_path

    return _dataset_path(cfg, name)
