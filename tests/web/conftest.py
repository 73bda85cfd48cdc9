"""Fixtures for the web tests: a seeded random-weight HRNet-18s checkpoint (no download, fast on the CPU at a
small network input), small generated images in an --images folder, and apps built by the real CLI path."""
import pytest

from web_fakes import scene, write_image


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A seeded random HRNet-18s whose output bias is shifted so that about a third of the pixels of the test
    scene come out above 0.5 through the web's predictor (64 px input, zoom-in, flip); an untrained model
    otherwise predicts ~0.48 everywhere."""
    model = pytest.importorskip("isegm.model")
    import numpy as np
    import torch

    from isegm.annotation import AnnotationSession, runtime

    torch.manual_seed(0)
    net = model.build_model("hrnet18s_itermask").eval()
    device = torch.device("cpu")
    session = AnnotationSession(runtime.build_predictor(net, device, runtime.default_predictor_params(64)))
    session.set_image(scene(), "scene.png")
    q = float(np.quantile(session.add_click(36, 30, True), 0.67))
    with torch.no_grad():
        net.feature_extractor.cls_head.bias -= float(np.log(q / (1 - q)))
    path = tmp_path_factory.mktemp("ckpt") / "tiny_hrnet18s.pth"
    model.save_is_model(net, path)
    return path


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every test here runs with :func:`tests.conftest.one_torch_thread`."""
    yield


@pytest.fixture
def folders(tmp_path):
    """(images, out): two scene images and a non-image file in images/; out/ does not exist yet."""
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "scene.png", scene())
    write_image(images / "other.jpg", scene(seed=5))
    (images / "notes.txt").write_text("not an image")
    return images, tmp_path / "out"
