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


class RadiusPredictor:
    """Predictor-like fake whose output tells which model answered: each prediction starts from the previous one
    (or the ``prev_mask`` it is given) above 0.5, then every positive click paints a disc of ``radius`` px at 0.9
    (and an uncertain ring out to 1.5 ``radius`` at 0.45) and every negative click clears a disc of ``radius`` px;
    states are kept for undo. Two fakes with other radii
    give other masks for the same actions."""

    def __init__(self, radius):
        self.radius, self.prev, self.calls = radius, None, 0

    def set_input_image(self, image):
        self.prev = np.zeros(image.shape[:2], np.float32)

    def get_prediction(self, clicker, prev_mask=None):
        self.calls += 1
        base = self.prev if prev_mask is None else np.asarray(prev_mask, np.float32)
        prob = np.where(base > 0.5, 0.8, 0.1).astype(np.float32)
        yy, xx = np.mgrid[:prob.shape[0], :prob.shape[1]]
        for click in clicker.get_clicks():
            y, x = click.coords
            dist = np.hypot(yy - y, xx - x)
            if click.is_positive:  # an uncertain ring (0.45: below the threshold, near 0.49) around the disc
                ring = (dist > self.radius) & (dist <= 1.5 * self.radius)
                prob[ring] = np.maximum(prob[ring], 0.45)
            prob[dist <= self.radius] = 0.9 if click.is_positive else 0.05
        self.prev = prob
        return prob.copy()

    def get_states(self):
        return {"prev": None if self.prev is None else self.prev.copy()}

    def set_states(self, states):
        self.prev = None if states["prev"] is None else states["prev"].copy()
