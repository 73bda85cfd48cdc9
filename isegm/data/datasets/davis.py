"""DAVIS (345-frame interactive benchmark) and COCO MVal (RITM's 800-instance COCO subset).

Layout ``img/<name>.jpg`` + ``gt/<name>.png``; any non-zero mask pixel (in any channel) is
the object (RITM's DavisDataset).
"""
from __future__ import annotations

import numpy as np

from .grabcut import _PairedFolderDataset

__all__ = ["DavisDataset", "COCOMValDataset"]


class DavisDataset(_PairedFolderDataset):
    """DAVIS: ``img/<name>.jpg`` images, ``gt/<name>.png`` masks (0 background, non-zero object).

    Args:
        dataset_path: the dataset folder.
        images_dir_name, masks_dir_name: sub-folder names (default img, gt).
        **kwargs: :class:`ISDataset` options.

    Raises:
        FileNotFoundError: a folder is missing or holds no image/mask pair (names path and layout).
    """

    layout = ("  <path>/img/<name>.jpg   images\n"
              "  <path>/gt/<name>.png    masks: 0 background, non-zero object")
    images_dir_name = "img"
    masks_dir_name = "gt"

    def _decode_mask(self, mask: np.ndarray) -> np.ndarray:
        if mask.ndim == 3:
            mask = mask[:, :, :3].max(axis=2)
        return (mask > 0).astype(np.int32)


class COCOMValDataset(DavisDataset):
    """COCO MVal (800 COCO instances, 10 per category) in the DAVIS layout ``img/`` + ``gt/``."""
