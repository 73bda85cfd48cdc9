"""Fakes shared by the annotation tests (imported by name: pytest puts this folder on sys.path)."""
import numpy as np


class DiskPredictor:
    """Predictor-like fake with the real predictor's statefulness (previous mask, undo states).

    Each prediction starts from the previous prediction (or ``prev_mask``) binarised at 0.5; the last click
    then sets a disk of radius ``radius`` to 0.9 (positive click; 0.6 in the ring up to 1.5 * radius) or
    clears the ring (negative click). Inputs are recorded for assertions.
    """

    def __init__(self, radius=6):
        self.radius = radius
        self.image = None
        self.prev = None
        self.input_shapes = []
        self.calls = 0

    def set_input_image(self, image):
        assert image.dtype == np.uint8 and image.ndim == 3
        self.image = image
        self.prev = np.zeros(image.shape[:2], np.float32)
        self.input_shapes.append(image.shape[:2])

    def get_prediction(self, clicker, prev_mask=None):
        if self.image is None:
            raise RuntimeError("no image")
        self.calls += 1
        base = self.prev if prev_mask is None else np.asarray(prev_mask, np.float32)
        prob = (base > 0.5).astype(np.float32) * 0.8
        click = clicker.get_clicks()[-1]
        y, x = click.coords
        h, w = prob.shape
        yy, xx = np.mgrid[:h, :w]
        dist = np.hypot(yy - y, xx - x)
        if click.is_positive:
            prob = np.maximum(prob, np.where(dist <= self.radius, 0.9, np.where(dist <= 1.5 * self.radius, 0.6, 0)))
        else:
            prob[dist <= 1.5 * self.radius] = 0.05
        self.prev = prob.astype(np.float32)
        return self.prev.copy()

    def get_states(self):
        return {"prev": self.prev.copy()}

    def set_states(self, states):
        self.prev = states["prev"].copy()


def make_image(h=64, w=80, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def start_xvfb():
    """Start a private Xvfb display.

    Returns:
        (process, ':N'), or (None, reason) when Xvfb is missing or cannot start.
    """
    import os
    import shutil
    import subprocess

    if shutil.which("Xvfb") is None:
        return None, "Xvfb is not installed (apt-get install xvfb)"
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        proc.kill()
        err = proc.communicate()[1].decode(errors="replace")[-300:]
        return None, f"Xvfb could not start a display: {err or 'no display number reported'}"
    return proc, f":{number}"
