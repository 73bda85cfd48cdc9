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
