"""Helpers shared by the web tests (imported by name: pytest puts this folder on sys.path)."""
import cv2
import numpy as np


def scene(h=72, w=96, seed=3):
    """(H, W, 3) uint8 RGB: noise with a red disc and a green square (RGB order)."""
    rng = np.random.default_rng(seed)
    image = rng.normal(90, 20, size=(h, w, 3)).clip(0, 255).astype(np.uint8)
    cv2.circle(image, (30, 36), 16, (220, 60, 40), -1)
    cv2.rectangle(image, (58, 10), (90, 44), (40, 200, 90), -1)
    return image


def write_image(path, image):
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path
