"""Moved to :mod:`isegm.config`; re-exported here for train.py and the recipes."""
from isegm.config import KNOWN_KEYS, dataset_path, load_config, parse_overrides  # noqa: F401
