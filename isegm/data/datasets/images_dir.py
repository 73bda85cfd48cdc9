"""Generic ``images/`` + ``masks/`` folder (RITM's ImagesDirDataset, with a seeded train/val split).

Layout::

    <path>/images/<name>.<ext>
    <path>/masks/<name>.png            one mask file per image, or several:
    <path>/masks/<name>_<k>.png        <name>_0.png, <name>_1.png, ... (each file one layer)

Mask files are either *binary* (RITM convention: > 128 object, 128 ignored, else background;
0/1 masks work too) or *instance-id* maps (every distinct non-zero value is one object;
16-bit PNGs and colour-coded instances are accepted).  ``mask_type='auto'`` picks binary when
a file only holds values from {0, 128, 255}, instance ids otherwise.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import ISDataset, split_indices
from ..sample import DSample
from .io import check_same_size, list_images, note_mask_conversion, read_image, read_mask, require_dir

__all__ = ["ImagesDirDataset", "decode_binary_mask", "decode_instance_mask"]

_BINARY_VALUES = frozenset({0, 128, 255})
_BINARY_IGNORE_ID = 2
_NUMBERED = re.compile(r"^(?P<stem>.+)_(?P<k>\d+)$")


def decode_binary_mask(mask: np.ndarray) -> np.ndarray:
    """(H, W[, C]) mask -> (H, W) int32: 1 where > 128 (or == 1 for 0/1 masks), 2 (ignore) where == 128."""
    if mask.ndim == 3:
        mask = mask[:, :, :3].max(axis=2)
    out = np.zeros(mask.shape, np.int32)
    if mask.max(initial=0) == 1:
        out[mask == 1] = 1
        return out
    out[mask == 128] = _BINARY_IGNORE_ID
    out[mask > 128] = 1
    return out


def decode_instance_mask(mask: np.ndarray) -> np.ndarray:
    """(H, W) ids (uint8/uint16) or (H, W, 3+) colour-coded ids -> (H, W) int32 instance ids."""
    if mask.ndim == 2:
        return mask.astype(np.int32)
    colours = mask[:, :, :3].astype(np.int64)
    if (colours == colours[:, :, :1]).all():
        return colours[:, :, 0].astype(np.int32)
    keys = colours[:, :, 2] * 65536 + colours[:, :, 1] * 256 + colours[:, :, 0]
    _, inverse = np.unique(keys, return_inverse=True)
    ids = inverse.reshape(keys.shape).astype(np.int32)
    # keep black as background: unique() sorts, so key 0 (if present) got id 0
    if not (keys == 0).any():
        ids += 1
    return ids


@dataclass(frozen=True)
class _ImageMasks:
    name: str
    image: Path
    masks: tuple[Path, ...]


class ImagesDirDataset(ISDataset):
    """Images with one or more mask files each, optionally restricted to a seeded train/val split.

    Args:
        dataset_path: folder holding the two sub-folders.
        images_dir_name, masks_dir_name: sub-folder names.
        split: 'all', 'train' or 'val'.
        val_fraction: share of images in 'val' (split by image, seeded).
        split_seed: seed of the split permutation (same seed -> same split).
        mask_type: 'auto', 'binary' or 'instances' (see module docstring).
        ignore_value: for instance masks, a value marking ignored pixels (e.g. 255), or None.
        **kwargs: :class:`ISDataset` options.

    Raises:
        FileNotFoundError: missing folder or no image with a mask (names path and layout).
        ValueError: bad split / val_fraction / mask_type.
    """

    layout = ("  <path>/images/<name>.<ext>\n"
              "  <path>/masks/<name>.png  or  <path>/masks/<name>_<k>.png  (several per image)\n"
              "  masks: binary (> 128 object, 128 ignored) or instance ids (each non-zero value an object)")

    def __init__(self, dataset_path, images_dir_name: str = "images", masks_dir_name: str = "masks",
                 split: str = "all", val_fraction: float = 0.1, split_seed: int = 0, mask_type: str = "auto",
                 ignore_value: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if split not in ("all", "train", "val"):
            raise ValueError(f"split must be 'all', 'train' or 'val', got {split!r}")
        if not 0.0 <= val_fraction <= 1.0:
            raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
        if mask_type not in ("auto", "binary", "instances"):
            raise ValueError(f"mask_type must be 'auto', 'binary' or 'instances', got {mask_type!r}")
        self.dataset_path = Path(dataset_path)
        require_dir(self.dataset_path, self.layout, "images/masks dataset folder")
        self._images_path = require_dir(self.dataset_path / images_dir_name, self.layout, "images folder")
        self._masks_path = require_dir(self.dataset_path / masks_dir_name, self.layout, "masks folder")
        self.mask_type = mask_type
        self.ignore_value = ignore_value
        self.split = split

        images = {p.stem: p for p in list_images(self._images_path)}
        masks: dict[str, list[Path]] = {}
        for mask_path in list_images(self._masks_path):
            stem = mask_path.stem
            if stem not in images:
                match = _NUMBERED.match(stem)
                stem = match.group("stem") if match and match.group("stem") in images else None
            if stem is None:
                self._skip(mask_path.stem, f"no image for mask {mask_path} in {self._images_path}")
                continue
            masks.setdefault(stem, []).append(mask_path)
        samples = []
        for stem, image_path in sorted(images.items()):
            if stem not in masks:
                self._skip(stem, f"no mask for image {image_path} in {self._masks_path}")
                continue
            samples.append(_ImageMasks(stem, image_path, tuple(sorted(masks[stem]))))
        if not samples:
            raise FileNotFoundError(f"no image with a mask under {self.dataset_path}\nExpected layout:\n{self.layout}")
        if split != "all":
            train_idx, val_idx = split_indices(len(samples), val_fraction, split_seed)
            samples = [samples[i] for i in (train_idx if split == "train" else val_idx)]
        self.dataset_samples = samples

    def get_sample_name(self, index: int) -> str:
        return self.dataset_samples[index].name

    def _decode(self, mask: np.ndarray) -> tuple[np.ndarray, list[int], list[int]]:
        """-> (labels, object ids, ignore ids) of one mask file."""
        mask_type = self.mask_type
        if mask_type == "auto":
            values = set(np.unique(mask).tolist())
            mask_type = "binary" if values <= _BINARY_VALUES else "instances"
        if mask_type == "binary":
            labels = decode_binary_mask(mask)
            present = set(np.unique(labels).tolist())
            return labels, [1] if 1 in present else [], [_BINARY_IGNORE_ID] if _BINARY_IGNORE_ID in present else []
        labels = decode_instance_mask(mask)
        ids = [int(x) for x in np.unique(labels) if x != 0]
        ignore = [i for i in ids if self.ignore_value is not None and i == self.ignore_value]
        return labels, [i for i in ids if i not in ignore], ignore

    def get_sample(self, index: int) -> DSample:
        """Image ``index`` with one mask layer per mask file.

        Raises:
            ValueError: unreadable files or image/mask size mismatch (names both files).
        A sample without object pixels has no objects and is recorded in ``skipped``.
        """
        record = self.dataset_samples[index]
        notes: list = []
        image = read_image(record.image, notes)
        layers, objects, ignored = [], [], []
        for layer, mask_path in enumerate(record.masks):
            mask = read_mask(mask_path)
            check_same_size(image, mask, record.image, mask_path)
            note_mask_conversion(mask, mask_path, notes, f"{self.mask_type} mask")
            labels, obj_ids, ignore_ids = self._decode(mask)
            layers.append(labels)
            objects.extend((layer, i) for i in obj_ids)
            ignored.extend((layer, i) for i in ignore_ids)
        if not objects:
            self._skip(record.name, f"empty object mask(s): {', '.join(p.name for p in record.masks)}")
        sample = DSample(image, np.stack(layers, axis=2), objects_ids=objects, ignore_ids=ignored,
                         sample_id=index, name=record.name)
        sample.notes = notes
        return sample
