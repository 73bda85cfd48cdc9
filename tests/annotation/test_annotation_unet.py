"""The annotation session with an MFP ResNet-34 U-Net checkpoint: same runtime, controller and headless
replay as for the RITM models (the checkpoint says what it is)."""
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from isegm.annotation import AnnotationController, export, runtime

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every test here runs with :func:`tests.conftest.one_torch_thread`."""
    yield


def test_unet_session_and_replay(tmp_path):
    import torch

    from isegm.model import build_model, save_is_model
    from isegm.model.unet import UNetModel

    torch.manual_seed(0)
    checkpoint = save_is_model(build_model("unet_resnet34"), tmp_path / "unet.pth")
    rng = np.random.default_rng(3)
    image = rng.normal(90, 20, size=(96, 128, 3)).clip(0, 255).astype(np.uint8)
    cv2.circle(image, (50, 50), 25, (220, 60, 40), -1)
    image_path = tmp_path / "scene.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))

    device = torch.device("cpu")
    runtime.make_deterministic()
    params = runtime.default_predictor_params(limit_longest_size=128)
    net = runtime.load_net(checkpoint, device)
    assert isinstance(net, UNetModel)
    ctrl = AnnotationController(runtime.build_predictor(net, device, params),
                                settings=runtime.session_settings(checkpoint, device, params))
    ctrl.set_image(image, image_path.name)
    ctrl.set_label("disc")
    ctrl.add_click(50, 50, True)
    ctrl.add_click(10, 110, False)
    prob = ctrl.current_prob
    assert prob.shape == image.shape[:2] and np.isfinite(prob).all()
    # random weights: a threshold at the median makes a non-empty object
    ctrl.set_threshold(float(np.clip(np.median(prob), 1e-6, 1 - 1e-6)))
    ctrl.finish_object()
    live = ctrl.save(tmp_path / "live")

    spec = importlib.util.spec_from_file_location("annotate_script", REPO / "scripts" / "annotate.py")
    annotate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(annotate)
    assert annotate.main(["--image", str(image_path), "--clicks", str(live["json"]), "--checkpoint", str(checkpoint),
                          "--out", str(tmp_path / "replay"), "--cpu"]) == 0
    replay = export.output_paths(tmp_path / "replay", "scene")
    assert replay["instances"].read_bytes() == live["instances"].read_bytes()
    assert set(np.unique(cv2.imread(str(live["instances"]), cv2.IMREAD_UNCHANGED))) == {0, 1}
