"""Faster inference paths of the torch backend (issue 13): BatchNorm folding and torch.compile behind the NoBRS
predictor give the eager model's probabilities; combinations they cannot run are one-line errors."""
import numpy as np
import pytest
import torch

from inference_fakes import disk_mask, make_image
from isegm.errors import UserError
from isegm.inference.clicker import Clicker
from isegm.inference.runner import EvalSettings
from isegm.inference.predictors import get_predictor
from isegm.inference.predictors.onnx import CompiledNet, load_backend_net
from isegm.inference.transforms import ZoomIn


def _probs(net, n_clicks=3):
    """Probability maps of n_clicks simulated clicks through the NoBRS predictor with zoom-in and flip."""
    shape = (60, 72)
    image, gt = make_image(shape, 1), disk_mask(shape, (30, 36), 12).astype(np.int32)
    zoom = ZoomIn(target_size=48, skip_clicks=1, expansion_ratio=1.4, min_crop_size=24)
    predictor = get_predictor(net, "NoBRS", "cpu", zoom_in_params=None)
    predictor.zoom_in, predictor.with_flip = zoom, True
    predictor.set_input_image(image)
    clicker, pred, maps = Clicker(gt_mask=gt), np.zeros(shape, bool), []
    for _ in range(n_clicks):
        clicker.make_next_click(pred)
        prob = predictor.get_prediction(clicker)
        maps.append(prob)
        pred = prob > 0.49
    return maps


@pytest.fixture
def checkpoint(tiny_click_model, tmp_path):
    from isegm.model import save_is_model

    return save_is_model(tiny_click_model(seed=1), tmp_path / "tiny.pth")


def test_folded_batchnorm_keeps_the_probabilities(checkpoint):
    eager = load_backend_net(checkpoint, "cpu")
    folded = load_backend_net(checkpoint, "cpu", fold_bn=True)
    assert getattr(folded, "inference_only", False)
    n_bn = sum(type(m) is torch.nn.BatchNorm2d for m in eager.modules())
    assert sum(type(m) is torch.nn.BatchNorm2d for m in folded.modules()) < n_bn
    for a, b in zip(_probs(eager), _probs(folded)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_compiled_net_gives_the_eager_probabilities(checkpoint):
    from inference_fakes import DiskNet

    torch._dynamo.reset()
    compiled = load_backend_net(checkpoint, "cpu", compile_mode="default", compile_backend="eager")
    assert isinstance(compiled, CompiledNet) and compiled.with_prev_mask and compiled.mode == "default"
    assert compiled.warmup_seconds > 0     # compiled (here: traced) when loaded, before any click is timed
    # tracing HRNet takes minutes on 2 cores: run the wrapper on a small click model (the eager backend
    # traces without changing kernels, so the maps are equal)
    eager, traced = DiskNet(radius=7), CompiledNet(DiskNet(radius=7), "default", backend="eager")
    for a, b in zip(_probs(eager), _probs(traced)):
        np.testing.assert_array_equal(a, b)
    assert len(traced.net.calls) == len(eager.calls) > 0


def test_compiled_bf16_net_gives_the_autocast_probabilities(checkpoint):
    """--compile with --precision bf16: the traced forward runs under bf16 autocast (as AutocastNet) and returns
    float32 outputs."""
    from isegm.inference.predictors.onnx import AutocastNet

    torch._dynamo.reset()
    net = load_backend_net(checkpoint, "cpu")
    compiled = CompiledNet(net, "default", backend="eager", precision="bf16")
    plain = CompiledNet(net, "default", backend="eager")
    autocast = AutocastNet(net)
    image, points = torch.rand(1, 4, 64, 80), torch.tensor([[[30., 40., 0], [-1, -1, -1]]])
    with torch.no_grad():
        a, b, c = (m(image, points)["instances"] for m in (compiled, autocast, plain))
    assert a.dtype == torch.float32 and torch.equal(a, b) and not torch.equal(a, c)
    assert load_backend_net(checkpoint, "cpu", precision="bf16", compile_mode="default",
                            compile_backend="eager").precision == "bf16"
    with pytest.raises(UserError, match="unknown precision 'fp16'"):
        CompiledNet(net, "default", backend="eager", precision="fp16")
    assert EvalSettings(precision="bf16", compile="default").mode_label() == "NoBRS_bf16_compile"


def test_cpu_inductor_compiles_with_weight_freezing(monkeypatch):
    """On the CPU every mode's inductor options get ``freezing``; torch.compile validates them when the wrapper is
    built (nothing is traced until the first call, so this is cheap). On a GPU the mode is passed as it is."""
    from inference_fakes import DiskNet

    for mode in ("default", "reduce-overhead", "max-autotune"):
        CompiledNet(DiskNet(radius=7), mode, device_type="cpu")
    seen = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: seen.append(kwargs) or fn)
    CompiledNet(DiskNet(radius=7), "reduce-overhead", device_type="cpu")
    CompiledNet(DiskNet(radius=7), "default", device_type="cpu")
    CompiledNet(DiskNet(radius=7), "reduce-overhead", device_type="cuda")
    assert seen[0]["options"] == {"triton.cudagraphs": True, "freezing": True} and seen[0]["dynamic"]
    assert seen[1]["options"] == {"freezing": True}
    assert seen[2]["mode"] == "reduce-overhead" and "options" not in seen[2]


def test_fast_path_settings_are_labelled_and_refused_where_they_cannot_run():
    assert EvalSettings(fold_bn=True, compile="default").mode_label() == "NoBRS_bnfold_compile"
    assert EvalSettings().mode_label() == "NoBRS"
    for kwargs, needle in ((dict(compile="fast"), "--compile 'fast'"),
                           (dict(compile="default", mode="f-BRS-B"), "NoBRS predictor only"),
                           (dict(fold_bn=True, backend="onnx"), "need --backend torch")):
        with pytest.raises(UserError, match=needle):
            EvalSettings(**kwargs)
    with pytest.raises(UserError, match="unknown compile mode"):
        load_backend_net("x.pth", "cpu", compile_mode="fast")
    with pytest.raises(UserError, match="need --backend torch"):
        load_backend_net("x.onnx", "cpu", backend="onnx", fold_bn=True)


def test_bf16_path_keeps_activations_in_bf16(checkpoint):
    """Under bf16 autocast no elementwise op of the forward mixes bf16 with an fp32 feature map: a (1,)-shaped fp32
    factor (the click branch's ScaleLayer) once promoted the stem's features to fp32, and the bf16 + fp32 add
    after it ran ~100x slower than a bf16 one on channels-last CPU tensors (half the bf16 forward)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    net = load_backend_net(checkpoint, "cpu", precision="bf16", fold_bn=True, channels_last=True)
    mixed = []

    class Watch(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            maps = [a for a in args if isinstance(a, torch.Tensor) and a.dim() == 4]
            if str(func.overloadpacket).split(".")[-1] in ("add", "add_", "mul", "mul_", "sub", "cat") \
                    and len({a.dtype for a in maps}) > 1:
                mixed.append((func, [(tuple(a.shape), a.dtype) for a in maps]))
            return func(*args, **(kwargs or {}))

    image, points = torch.rand(2, 4, 64, 64), torch.tensor([[[30.0, 30.0, 0.0], [-1.0, -1.0, -1.0]]] * 2)
    with torch.inference_mode(), Watch():
        out = net(image, points)
    assert out["instances"].dtype == torch.float32 and not mixed, mixed[:3]


def test_compile_seconds_are_recorded_and_left_out_of_spc(tmp_path):
    """A compiled network is compiled before the timed loop; the results json records how long that took."""
    from inference_fakes import DiskNet, make_fake_dataset

    from isegm.inference.runner import run_evaluation

    torch._dynamo.reset()

    def load(path, device):
        net = CompiledNet(DiskNet(radius=7), "default", backend="eager")
        net.warm_up(device)
        return net

    results = run_evaluation([tmp_path / "fake.pth"], {"GrabCut": make_fake_dataset()},
                             EvalSettings(n_clicks=3, progress=False, compile="default"), torch.device("cpu"),
                             tmp_path / "logs", load_model=load)
    entry = results["datasets"]["GrabCut"]["fake"]
    assert entry["compile_seconds"] > 0
    plain = run_evaluation([tmp_path / "fake.pth"], {"GrabCut": make_fake_dataset()},
                           EvalSettings(n_clicks=3, progress=False), torch.device("cpu"), tmp_path / "logs2",
                           load_model=lambda path, device: DiskNet(radius=7))
    assert "compile_seconds" not in plain["datasets"]["GrabCut"]["fake"]
