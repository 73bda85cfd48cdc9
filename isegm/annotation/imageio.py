"""Reading images and external masks with clear errors (used by the demo and scripts/annotate.py)."""
from pathlib import Path

import cv2
import numpy as np


def _read_bytes(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    try:
        return np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise ValueError(f"could not read {path}: {exc}") from exc


def read_image(path):
    """Read an image file as RGB.

    Args:
        path: any format OpenCV decodes (png, jpg, bmp, tiff, ...); grey images are expanded to RGB,
            alpha is dropped, 16-bit images are scaled to 8 bits (OpenCV IMREAD_COLOR).
    Returns:
        (H, W, 3) uint8 RGB.
    Raises:
        FileNotFoundError: no such file; ValueError: the file is not a readable image.
    """
    data = _read_bytes(path)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError(f"could not read image {path}: not an image file OpenCV can decode")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mask(path):
    """Read an external object mask.

    8-bit images: foreground = value > 127 (0/255 masks, also after JPEG compression), except masks whose
    maximum is 1 (0/1 masks), where foreground = value > 0. Other bit depths: foreground = value > 0. Colour
    masks use their brightest channel.

    Returns:
        (H, W) bool.
    Raises:
        FileNotFoundError: no such file; ValueError: not a readable image.
    """
    data = _read_bytes(path)
    mask = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if mask is None:
        raise ValueError(f"could not read mask {path}: not an image file OpenCV can decode")
    if mask.ndim == 3:
        mask = mask[:, :, :3].max(axis=2) if mask.shape[2] >= 3 else mask[:, :, 0]
    if mask.dtype == np.uint8 and mask.max() > 1:
        return mask > 127
    return mask > 0
