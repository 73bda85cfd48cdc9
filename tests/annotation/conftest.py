"""Fixtures for the annotation tests: a tiny deterministic fake predictor and small generated images."""
import pytest

from annotation_fakes import DiskPredictor, make_image
from isegm.annotation import AnnotationController


@pytest.fixture
def image():
    return make_image()


@pytest.fixture
def predictor():
    return DiskPredictor()


@pytest.fixture
def controller(image, predictor):
    ctrl = AnnotationController(predictor, threshold=0.5, settings={"checkpoint": {"path": "fake.pth"}})
    ctrl.set_image(image, "scene.png")
    return ctrl
