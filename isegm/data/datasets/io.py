"""File helpers shared by the dataset loaders: listing, reading with OpenCV, clear errors."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "require_dir", "require_file", "list_images", "read_image", "read_mask",
           "check_same_size"]

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


def _decode(path: Path, flags: int, what: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    # np.fromfile + imdecode also handles non-ASCII paths on every platform
    data = np.fromfile(str(path), dtype=np.uint8)
    decoded = cv2.imdecode(data, flags) if data.size else None
    if decoded is None:
        raise ValueError(f"cannot read {what} {path}: empty file or a format OpenCV cannot decode")
    return decoded


def read_image(path: Path) -> np.ndarray:
    """Read an image as (H, W, 3) uint8 RGB (OpenCV, BGR -> RGB; grey/alpha images converted).

    Raises:
        FileNotFoundError: no such file.  ValueError: the file cannot be decoded.
    """
    image = _decode(path, cv2.IMREAD_COLOR, "image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mask(path: Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """Read a mask with OpenCV ``flags`` (default IMREAD_UNCHANGED: (H, W) or (H, W, C), uint8/uint16).

    Raises:
        FileNotFoundError: no such file.  ValueError: the file cannot be decoded.
    """
    return _decode(path, flags, "mask")


def check_same_size(image: np.ndarray, mask: np.ndarray, image_path: Path, mask_path: Path) -> None:
    """Raise ValueError naming both files when image and mask sizes differ."""
    if image.shape[:2] != mask.shape[:2]:
        raise ValueError(f"image {image_path} is {image.shape[1]}x{image.shape[0]} (WxH) but mask {mask_path} "
                         f"is {mask.shape[1]}x{mask.shape[0]}; they must have the same size")
