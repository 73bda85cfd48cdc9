"""Fixtures of the inference tests (fakes live in inference_fakes.py)."""
import pytest

from inference_fakes import make_fake_dataset


@pytest.fixture
def fake_dataset():
    return make_fake_dataset()
