"""Fakes for the inference tests: a tiny model honouring the ISModel interface and a small dataset."""
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


class DiskNet(nn.Module):
    """Fake interactive model: logit +10 within ``radius`` px of a positive click, -10 elsewhere;
    negative clicks carve out disks of the same radius (they win over positives).

    forward(image (B, C, H, W), points (B, 2N, 3)) -> {'instances': (B, 1, H, W)} as an ISModel.
    Records the inputs of every call in ``self.calls``.
    """

    def __init__(self, radius=5.0, with_prev_mask=False):
        super().__init__()
        self.radius = radius
        self.with_prev_mask = with_prev_mask
        self.binary_prev_mask = False
        self.calls = []

    def forward(self, image, points):
        self.calls.append((image.detach().clone(), points.detach().clone()))
        batch, _, height, width = image.shape
        n = points.shape[1] // 2
        ys = torch.arange(height, dtype=torch.float32).view(1, 1, height, 1)
        xs = torch.arange(width, dtype=torch.float32).view(1, 1, 1, width)
        pts = points.float()

        def near(rows):
            valid = (rows.max(dim=2).values >= 0).view(batch, -1, 1, 1)
            dy = ys - rows[:, :, 0].view(batch, -1, 1, 1)
            dx = xs - rows[:, :, 1].view(batch, -1, 1, 1)
            inside = (dy ** 2 + dx ** 2 <= self.radius ** 2) & valid
            return inside.any(dim=1, keepdim=True)

        positive = near(pts[:, :n]) & ~near(pts[:, n:])
        logits = torch.where(positive, torch.tensor(10.0), torch.tensor(-10.0))
        return {"instances": logits.to(image.device)}


@dataclass
class FakeSample:
    image: np.ndarray
    gt_mask: np.ndarray
    sample_id: object = None


class FakeDataset:
    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def get_sample(self, index):
        return self.samples[index]


def disk_mask(shape, center, radius):
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    return ((ys - center[0]) ** 2 + (xs - center[1]) ** 2 <= radius ** 2)


def make_image(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(*shape, 3), dtype=np.uint8)


def make_fake_dataset():
    """Three samples: a disk object (r=5), a disk with an ignore ring, and an empty mask."""
    shape = (40, 48)
    gt1 = disk_mask(shape, (20, 24), 5).astype(np.int32)
    gt2 = disk_mask(shape, (10, 30), 5).astype(np.int32)
    ring = disk_mask(shape, (10, 30), 8) & ~disk_mask(shape, (10, 30), 5)
    gt2[ring] = -1
    gt3 = np.zeros(shape, dtype=np.int32)
    return FakeDataset([FakeSample(make_image(shape, 1), gt1, "a"),
                        FakeSample(make_image(shape, 2), gt2, "b"),
                        FakeSample(make_image(shape, 3), gt3, "empty")])


def run_clicks(predictor, image, clicks):
    """Probability maps after each of ``clicks`` ((y, x, is_positive) triples), added one by one."""
    from isegm.geometry import Click
    from isegm.inference.clicker import Clicker

    predictor.set_input_image(image)
    clicker = Clicker(image_shape=image.shape[:2])
    outputs = []
    for y, x, positive in clicks:
        clicker.add_click(Click(y, x, positive))
        outputs.append(predictor.get_prediction(clicker))
    return outputs
