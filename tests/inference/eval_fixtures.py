"""Fixtures for the evaluation tests: a generated GrabCut-layout folder and a seeded random HRNet18s checkpoint."""
from pathlib import Path

import cv2
import numpy as np
import torch


def make_grabcut(root: Path, n: int = 2, empty: bool = True, height: int = 40, width: int = 48) -> Path:
    """GrabCut layout: data_GT/<name>.png images, boundary_GT/<name>.png masks (255 object, 128 ignored).

    Samples s0..s{n-1} hold a box object with an ignored border; with ``empty`` a last sample
    ``z_empty`` has no object pixel (the evaluation skips it).
    """
    (root / "data_GT").mkdir(parents=True)
    (root / "boundary_GT").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"s{i}" for i in range(n)] + (["z_empty"] if empty else [])
    for i, name in enumerate(names):
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        mask = np.zeros((height, width), np.uint8)
        if name != "z_empty":
            y0, x0 = 8 + 2 * i, 10 + 3 * i
            mask[y0 - 1:y0 + 17, x0 - 1:x0 + 19] = 128
            mask[y0:y0 + 16, x0:x0 + 18] = 255
        assert cv2.imwrite(str(root / "data_GT" / f"{name}.png"), image)
        assert cv2.imwrite(str(root / "boundary_GT" / f"{name}.png"), mask)
    return root


def randomize_weights(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Seeded random weights and BN statistics (so outputs depend on every tensor); returns the model in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
    return model.eval()


def make_random_checkpoint(path: Path, seed: int = 0) -> Path:
    """hrnet18s_itermask with seeded random weights, saved with isegm.model.save_is_model."""
    from isegm.model import build_model, save_is_model

    model = randomize_weights(build_model("hrnet18s_itermask"), seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_is_model(model, path)
