"""File helpers shared by the dataset loaders: listing, reading with OpenCV, clear errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from isegm.io import read_image, read_mask  # noqa: F401  (re-exported for the loaders)

__all__ = ["IMAGE_EXTENSIONS", "require_dir", "require_file", "list_images", "read_image", "read_mask",
           "check_same_size", "note_mask_conversion"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


def require_dir(path: Path, layout: str, what: str = "dataset folder") -> Path:
    """Return ``path`` if it is a directory, else raise FileNotFoundError naming it and ``layout``."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path}\nExpected layout:\n{layout}")
    return path


def require_file(path: Path, layout: str, what: str = "file") -> Path:
    """Return ``path`` if it is a file, else raise FileNotFoundError naming it and ``layout``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}\nExpected layout:\n{layout}")
    return path


def list_images(folder: Path) -> list[Path]:
    """Image files of ``folder`` (extensions in IMAGE_EXTENSIONS, any case), sorted by name; hidden files skipped."""
    return sorted((p for p in Path(folder).iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS),
                  key=lambda p: p.name)


def note_mask_conversion(mask: np.ndarray, path: Path, notes: list, rule: str) -> None:
    """Append a note naming ``path`` when a mask is not plain 8-bit single-channel (``rule`` says how it was read)."""
    what = []
    if mask.dtype != np.uint8:
        what.append(f"{mask.dtype} mask")
    if mask.ndim == 3:
        what.append(f"{mask.shape[2]}-channel mask")
    if what:
        notes.append(f"{path}: {' '.join(what)} read as {rule}")


def check_same_size(image: np.ndarray, mask: np.ndarray, image_path: Path, mask_path: Path) -> None:
    """Raise ValueError naming both files when image and mask sizes differ."""
    if image.shape[:2] != mask.shape[:2]:
        raise ValueError(f"image {image_path} is {image.shape[1]}x{image.shape[0]} (WxH) but mask {mask_path} "
                         f"is {mask.shape[1]}x{mask.shape[0]}; they must have the same size")
