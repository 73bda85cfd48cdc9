"""Shared start-up for the demo and the headless replay: device choice, determinism, model + predictor.

Bit-for-bit replay (``scripts/annotate.py``) needs the same checkpoint, predictor parameters, device type, torch
build and CPU thread count as the session that recorded the clicks; :func:`runtime_info` records these and
:func:`make_deterministic` switches off non-deterministic kernels. The predictor parameters are stored in the
session as plain data and passed back to :func:`build_predictor` unchanged.
"""
import logging
import os
from pathlib import Path

from isegm.io import file_sha256

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKPOINT = Path("weights") / "hrnet18s_cocomval_superpixel.pth"


def default_predictor_params(limit_longest_size=800):
    """Predictor parameters of the demo (RITM's demo defaults: NoBRS, flip, zoom-in from the first click on a
    fixed 400 x 400 crop with expansion 1.4, network input limited to ``limit_longest_size``).

    Returns:
        plain-data dict for :func:`build_predictor` (JSON-serialisable).
    Raises:
        ValueError: ``limit_longest_size`` < 32.
    """
    limit = int(limit_longest_size)
    if limit < 32:
        raise ValueError(f"limit_longest_size must be >= 32, got {limit_longest_size}")
    target = min(400, limit)
    return {
        "brs_mode": "NoBRS",
        "with_flip": True,
        "zoom_in_params": {"skip_clicks": -1, "target_size": [target, target], "expansion_ratio": 1.4},
        "max_size": limit,
    }


def resolve_checkpoint(checkpoint=None):
    """Path of the checkpoint to use: ``checkpoint`` or the shipped default in ``weights/``.

    Relative paths are tried against the current folder, then the repository root.

    Raises:
        FileNotFoundError: naming the missing path and how to pass one with ``--checkpoint``.
    """
    given = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    candidates = [given] if given.is_absolute() else [Path.cwd() / given, REPO_ROOT / given]
    for cand in candidates:
        if cand.is_file():
            return cand.resolve()
    what = "checkpoint" if checkpoint else "default checkpoint"
    raise FileNotFoundError(
        f"{what} not found: {candidates[-1]}. Pass a RITM-format checkpoint with --checkpoint PATH "
        f"(for example one written by train.py, or the released {DEFAULT_CHECKPOINT.name} placed in weights/).")


def resolve_device(cpu=False, gpu=None):
    """torch.device from ``--cpu`` / ``--gpu N`` (default: cuda:0 when available, else cpu).

    Raises:
        RuntimeError: ``--gpu N`` asked for but CUDA is unavailable or has fewer devices.
    """
    import torch

    if cpu:
        return torch.device("cpu")
    if gpu is None:
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        raise RuntimeError(f"--gpu {gpu} requested but CUDA is not available; use --cpu")
    if not 0 <= gpu < torch.cuda.device_count():
        raise RuntimeError(f"--gpu {gpu} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    return torch.device(f"cuda:{gpu}")


def make_deterministic():
    """Switch torch to deterministic kernels (cuDNN deterministic, no benchmark, deterministic algorithms)."""
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def runtime_info(device):
    """Plain-data description of what a bit-exact replay must match (torch version, device type, threads)."""
    import torch

    return {"torch": torch.__version__, "device": str(device), "num_threads": int(torch.get_num_threads())}


def inference_path(name, device):
    """The :class:`~isegm.inference.paths.InferencePath` of the GUIs' ``--inference`` flag: ``'fastest'``
    (:func:`~isegm.inference.paths.fastest_path` on ``device``, the default) or ``'exact'`` (RITM's numerics)."""
    from isegm.inference.paths import InferencePath, fastest_path

    if name not in ("fastest", "exact"):
        raise ValueError(f"--inference {name!r}: expected 'fastest' or 'exact'")
    return fastest_path(device) if name == "fastest" else InferencePath.exact()


def is_onnx(checkpoint) -> bool:
    return str(checkpoint).lower().endswith(".onnx")


def load_net(checkpoint, device, inference=None):
    """Load a RITM-format checkpoint with :func:`isegm.model.load_is_model` in eval mode, run on the
    :class:`~isegm.inference.paths.InferencePath` ``inference`` (None: exact); an ``.onnx`` file from
    ``scripts/export_model.py`` runs through onnxruntime on the CPU instead (NoBRS only, ``inference`` ignored;
    see :func:`isegm.inference.predictors.onnx.load_backend_net`)."""
    from isegm.inference.predictors.onnx import load_backend_net

    if is_onnx(checkpoint):
        return load_backend_net(checkpoint, device, "onnx")
    if inference is None or inference.is_exact:
        return load_backend_net(checkpoint, device, "torch")
    return load_backend_net(checkpoint, device, "torch", inference.precision, fold_bn=inference.fold_bn,
                            channels_last=inference.channels_last)


def build_predictor(net, device, predictor_params):
    """Predictor for ``net`` from plain-data parameters (see :func:`default_predictor_params`).

    Raises:
        ValueError / NotImplementedError: from ``get_predictor`` for unknown or unimplemented modes.
    """
    from isegm.inference.predictors import get_predictor

    params = dict(predictor_params)
    zoom = params.pop("zoom_in_params", None)
    if zoom is not None:
        zoom = dict(zoom)
        if isinstance(zoom.get("target_size"), list):
            zoom["target_size"] = tuple(zoom["target_size"])
    brs_mode = params.pop("brs_mode", "NoBRS")
    return get_predictor(net, brs_mode, device, zoom_in_params=zoom, **params)


def session_settings(checkpoint, device, predictor_params, checkpoint_hash=True, inference=None):
    """Settings block recorded in sessions/outputs: checkpoint path (+ sha256), predictor params, runtime, and
    the inference path (``inference``, an :class:`~isegm.inference.paths.InferencePath`; omitted when None or
    exact, so sessions of the exact path read as before)."""
    checkpoint = Path(checkpoint)
    info = {"path": str(checkpoint), "name": checkpoint.name}
    if checkpoint_hash and checkpoint.is_file():
        info["sha256"] = file_sha256(checkpoint)
    settings = {"checkpoint": info, "predictor": dict(predictor_params), "runtime": runtime_info(device)}
    if inference is not None and not inference.is_exact and not is_onnx(checkpoint):
        settings["inference"] = inference.to_json()
    return settings


def recorded_inference(settings, where="session"):
    """The inference path a session was recorded with (``settings['inference']``; absent: exact).

    Raises:
        ValueError: a malformed record (the message names ``where``).
    """
    from isegm.inference.paths import InferencePath

    return InferencePath.from_json((settings or {}).get("inference"), f"{where}: settings.inference")


def apply_recorded_runtime(settings, device):
    """Match the recorded CPU thread count (so CPU kernels reduce in the same order); warn on other mismatches."""
    import torch

    runtime = (settings or {}).get("runtime") or {}
    if runtime.get("torch") and runtime["torch"] != torch.__version__:
        logger.warning("session recorded with torch %s, replaying with %s: masks may differ slightly",
                       runtime["torch"], torch.__version__)
    recorded_device = str(runtime.get("device", ""))
    if recorded_device and recorded_device.split(":")[0] != str(device).split(":")[0]:
        logger.warning("session recorded on %s, replaying on %s: masks may differ slightly", recorded_device, device)
    threads = runtime.get("num_threads")
    if threads and str(device).startswith("cpu") and int(threads) != torch.get_num_threads():
        torch.set_num_threads(int(threads))
