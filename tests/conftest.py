"""Shared pytest fixtures: paths to ../shared, skipping cleanly where it is absent."""
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
DATASETS = SHARED / "datasets"
REFERENCE = SHARED / "reference"

# One intra-op thread: on the 2-core CI machine this is faster overall than two (no oversubscription
# with DataLoader workers and subprocesses) and gives steady timings.
torch.set_num_threads(1)


def shared_path(*parts) -> Path:
    """Path under ../shared, or skip the test with a message naming the missing path."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (expected the workplace's ../shared layout)")
    return path


@pytest.fixture
def grabcut_path():
    return shared_path("datasets", "GrabCut")


@pytest.fixture
def berkeley_path():
    return shared_path("datasets", "Berkeley")


@pytest.fixture
def coco_mval_path():
    return shared_path("datasets", "COCO_MVal")


@pytest.fixture
def reference_path():
    return shared_path("reference")


@pytest.fixture
def one_torch_thread():
    """One intra-op torch thread for the test (on a shared 2-core machine two OpenMP threads can be ~50x
    slower when a core is busy elsewhere); the thread count and the deterministic-kernel switch (the annotation
    CLI and scripts/annotate.py turn it on) are restored afterwards, so other tests are unaffected."""
    import torch

    before = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


@pytest.fixture(scope="session")
def tiny_click_model():
    """Factory of a tiny seeded random HRNet click model (width 8, OCR 16, small; exports in about a second).

    ``tiny_click_model(seed=0, with_prev_mask=True, use_disks=True)``: with the previous mask and disk clicks
    as the shipped IT-M model, or (``with_prev_mask=False``) RGB-conv fusion; random weights (normal, std ``scale``) and BN statistics.
    """
    def build(seed: int = 0, with_prev_mask: bool = True, use_disks: bool = True, scale: float = 0.2):
        from isegm.model import HRNetModel

        fusion = (dict(use_rgb_conv=False, with_prev_mask=True, use_leaky_relu=True) if with_prev_mask
                  else dict(use_rgb_conv=True, with_prev_mask=False))
        model = HRNetModel(width=8, ocr_width=16, small=True, with_aux_output=True,
                           norm_radius=5 if use_disks else 40, use_disks=use_disks, **fusion)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, tensor in model.state_dict().items():
                if not tensor.is_floating_point():
                    continue
                if name.endswith("running_var"):
                    tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
                else:
                    tensor.copy_(torch.randn(tensor.shape, generator=gen) * scale)
        return model.eval()

    return build
